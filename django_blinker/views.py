"""Read-only admin pages: every signal, one signal, and what runs for one model.

Staff users with ``django_blinker.view_signal`` (and superusers) may look; anyone else is
sent to the admin login, or gets 403 when logged in as staff without the permission.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView, View

from . import conf, inspection
from .background import outbox
from .bridging import pauses
from .inspection import SignalInfo, picture, unused
from .inspection.describe import ReceiverInfo
from .models import Signal
from .observation import activity, store
from .observation.figures import SignalTotals, Totals, signal_figures

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PERMISSION = "django_blinker.view_signal"
PAUSE_PERMISSION = "django_blinker.pause_receiver"
SIGNALS_PER_PAGE = 100
RECEIVERS_PER_PAGE = 200
MATCHES_SHOWN = 5
_SYSTEM_LABELS = {inspection.BLINKER: "Blinker", inspection.DJANGO: "Django"}


@dataclass(frozen=True)
class ReceiverRow:
    """A receiver as one table row: its description, model page link and figures.

    ``recorded`` says whether its calls can be recorded at all (see
    :func:`django_blinker.observation.activity.is_recorded`): a row that is not shows no figures.
    """

    info: ReceiverInfo
    model_url: str | None
    activity: Totals | None
    recorded: bool = False
    reason: str = ""
    signal: SignalInfo | None = None
    signal_url: str = ""
    pause: pauses.Pause | None = None
    skipped: int = 0


@dataclass(frozen=True)
class SignalRow:
    """A signal in the list: its receivers matching the search and its figures."""

    info: SignalInfo
    url: str
    matches: tuple[ReceiverInfo, ...]
    more_matches: int
    activity: SignalTotals | None
    recorded: bool = False


@dataclass(frozen=True)
class ModelSection:
    """What runs on one action of a model: the first rows, how many there are in all,
    and the signals whose pages list the rows left out."""

    action: str
    rows: list[ReceiverRow]
    total: int
    hidden: int
    hidden_in: list[tuple[str, str]]


class SignalPageView(TemplateView):
    """Base of the signal pages: the admin's context, the permission guard, GET only."""

    admin_site: AdminSite = admin.site
    http_method_names: ClassVar[list[str]] = ["get", "head"]  # type: ignore[misc]
    title: StrOrPromise = ""

    @method_decorator(never_cache)
    @method_decorator(staff_member_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

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

    def receiver_rows(
        self, signal: SignalInfo, receivers: Iterable[ReceiverInfo]
    ) -> list[ReceiverRow]:
        """Rows of ``receivers``, some of ``signal``'s: one page of them, never all."""
        figures = self.figures(signal)
        recorded = activity.is_recorded(signal.signal)
        return [
            ReceiverRow(
                info=receiver,
                model_url=self.model_url(receiver.sender_model),
                activity=figures.receivers.get(receiver.name) if figures else None,
                recorded=recorded,
                pause=pauses.pause_of(receiver.name),
                skipped=self.skipped(signal, receiver.name),
            )
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


class SignalListView(SignalPageView):
    """Signals grouped by namespace, with search (signal, receiver, model) and filters."""

    template_name = "django_blinker/signal_list.html"
    title = _("Signals")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        every = inspection.discover()
        get = self.request.GET
        query = get.get("q", "").strip()
        chosen = {key: get.get(key, "") for key in _FILTERS}
        signals = [signal for signal in every if _chosen(signal, chosen)]
        rows = []
        needle = query.casefold()
        for signal in signals:
            matches: list[ReceiverInfo] = []
            if needle:
                matches = [r for r in signal.receivers if _receiver_matches(r, needle)]
                if not matches and needle not in signal.name.casefold():
                    continue
            rows.append((signal, matches))
        page = Paginator(rows, SIGNALS_PER_PAGE).get_page(get.get("p"))
        shown = [
            SignalRow(
                info=signal,
                url=self.signal_url(signal),
                matches=tuple(matches[:MATCHES_SHOWN]),
                more_matches=max(0, len(matches) - MATCHES_SHOWN),
                activity=self.figures(signal),
                recorded=activity.is_recorded(signal.signal),
            )
            for signal, matches in page.object_list
        ]
        groups: dict[str, list[SignalRow]] = {}
        for row in shown:
            groups.setdefault(row.info.namespace, []).append(row)
        models = sorted(model._meta.label for model in apps.get_models(include_auto_created=True))
        return super().get_context_data(
            **{
                **kwargs,
                "groups": list(groups.items()),
                "page": page,
                "page_links": self._page_links(page.number, page.paginator.num_pages),
                "query": query,
                "chosen": chosen,
                "total_signals": len(every),
                "total_receivers": sum(len(signal.receivers) for signal in every),
                "matched_signals": len(rows),
                "unimported": inspection.unimported_modules(),
                "filters": [
                    (title, key, self._choices(key, _facet(every, chosen, key)))
                    for key, title in _FILTERS.items()
                ],
                "models": [(label, self.model_url(label)) for label in models],
                "matching_models": [
                    (label, self.model_url(label))
                    for label in models
                    if needle and needle in label.casefold()
                ][:20],
            }
        )

    def _link(self, **changes: str) -> str:
        query = self.request.GET.copy()
        query.pop("p", None)
        for key, value in changes.items():
            if value:
                query[key] = value
            else:
                query.pop(key, None)
        return "?" + query.urlencode() if query else "?"

    def _choices(self, key: str, values: Iterable[str]) -> list[tuple[str, str, bool]]:
        current = self.request.GET.get(key, "")
        choices = [(gettext("All"), self._link(**{key: ""}), not current)]
        choices += [
            (_SYSTEM_LABELS.get(value, value), self._link(**{key: value}), value == current)
            for value in values
        ]
        return choices

    def _page_links(self, number: int, count: int) -> list[tuple[int, str]]:
        return [(page, self._link(p=str(page))) for page in _page_numbers(number, count)]


def _store_name(signal: SignalInfo) -> str:
    """The name the activity store keys ``signal`` by: a bridged signal's own name."""
    return str(getattr(signal.signal, "name", signal.name))


_FILTERS = {"system": _("By system"), "namespace": _("By namespace"), "app": _("By app")}


def _value(signal: SignalInfo, key: str) -> str:
    return getattr(signal, key) or ""


def _chosen(signal: SignalInfo, chosen: dict[str, str], skip: str = "") -> bool:
    return all(
        not value or _value(signal, key) == value for key, value in chosen.items() if key != skip
    )


def _facet(every: list[SignalInfo], chosen: dict[str, str], key: str) -> list[str]:
    """The values of filter ``key`` among the signals the other chosen filters keep, in
    the order discovery lists them, so that choosing a system narrows the namespaces."""
    kept = [signal for signal in every if _chosen(signal, chosen, skip=key)]
    if key == "system":
        values = [system for system in inspection.SYSTEMS if any(s.system == system for s in kept)]
    elif key == "namespace":
        values = inspection.namespaces(kept)
    else:
        values = sorted({signal.app for signal in kept if signal.app})
    if chosen[key] and chosen[key] not in values:
        values.append(chosen[key])
    return values


def _page_numbers(number: int, count: int) -> list[int]:
    return sorted({1, count, *range(max(1, number - 3), min(count, number + 3) + 1)})


def _receiver_matches(receiver: ReceiverInfo, needle: str) -> bool:
    return needle in receiver.name.casefold() or needle in receiver.sender.casefold()


class SignalDetailView(SignalPageView):
    """One signal: its doc, bridge status and every receiver with all details."""

    template_name = "django_blinker/signal_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        key = (kwargs["system"], kwargs["namespace"], kwargs["name"])
        signals = {signal.key: signal for signal in inspection.discover()}
        signal = signals.get(key)
        if signal is None:
            raise Http404(f"No signal {key[2]!r} in namespace {key[1]!r} ({key[0]}).")
        counterpart = signals.get(signal.counterpart) if signal.counterpart else None
        self.title = signal.name
        page = Paginator(signal.receivers, RECEIVERS_PER_PAGE).get_page(self.request.GET.get("p"))
        return super().get_context_data(
            **{
                **kwargs,
                "signal": signal,
                "receivers": self.receiver_rows(signal, page.object_list),
                "page": page,
                "page_links": [
                    (number, f"?p={number}")
                    for number in _page_numbers(page.number, page.paginator.num_pages)
                ],
                "counterpart": counterpart,
                "counterpart_url": self.signal_url(counterpart) if counterpart else None,
                "figures": self.figures(signal),
                "breakdown": self.site.breakdown(_store_name(signal)) if self.site else [],
                "recorded": activity.is_recorded(signal.signal),
                "show_figures": activity.is_enabled() and activity.is_recorded(signal.signal),
            }
        )


class ModelSignalsView(SignalPageView):
    """What runs for one model: receivers of both systems for its inits, saves, deletes,
    many-to-many changes, field changes and bulk operations, including those that listen
    to any sender."""

    template_name = "django_blinker/model_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        try:
            model = inspection.find_model(kwargs["label"])
        except LookupError as error:
            raise Http404(error.args[0]) from None
        found = inspection.receivers_for_model(inspection.discover(), model)
        by_action: dict[str, list[inspection.ModelReceiver]] = {}
        for item in found:
            by_action.setdefault(item.action, []).append(item)
        sections = []
        for action in inspection.MODEL_ACTIONS:
            items = by_action.get(action, [])
            rows = []
            # The first page's worth: the rest are on each signal's own (paginated) page.
            for item in items[:RECEIVERS_PER_PAGE]:
                figures = self.figures(item.signal)
                rows.append(
                    ReceiverRow(
                        info=item.receiver,
                        model_url=None,
                        activity=figures.receivers.get(item.receiver.name) if figures else None,
                        recorded=activity.is_recorded(item.signal.signal),
                        reason=item.reason,
                        signal=item.signal,
                        signal_url=self.signal_url(item.signal),
                        pause=pauses.pause_of(item.receiver.name),
                        skipped=self.skipped(item.signal, item.receiver.name),
                    )
                )
            hidden = {item.signal.key: item.signal for item in items[RECEIVERS_PER_PAGE:]}
            hidden_in = [(signal.name, self.signal_url(signal)) for signal in hidden.values()]
            hidden_count = len(items) - len(rows)
            sections.append(ModelSection(action, rows, len(items), hidden_count, hidden_in))
        label = model._meta.label
        self.title = gettext("What runs for %(model)s") % {"model": label}
        picture_title = gettext("Wiring of %(model)s") % {"model": label}
        return super().get_context_data(
            **{
                **kwargs,
                "model_label": label,
                "model_name": model._meta.verbose_name,
                "picture": self.picture({label: found}, picture_title, link_models=False),
                "picture_title": picture_title,
                "app_label": model._meta.app_label,
                "app_url": self.url("app", app_label=model._meta.app_label),
                "sections": sections,
                "shown_sections": [
                    (section, inspection.action_label(section.action))
                    for section in sections
                    if section.rows
                ],
                "empty_sections": [
                    inspection.action_label(section.action)
                    for section in sections
                    if not section.rows
                ],
                "total": len(found),
                "show_figures": activity.is_enabled()
                and any(row.recorded for section in sections for row in section.rows),
            }
        )


class AppSignalsView(SignalPageView):
    """The wiring picture of every model of one app, and what runs for each model."""

    template_name = "django_blinker/app_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        label = kwargs["app_label"]
        try:
            config = apps.get_app_config(label)
        except LookupError:
            known = sorted(config.label for config in apps.get_app_configs())
            close = difflib.get_close_matches(label, known, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(known)}"
            )
            raise Http404(f"{label!r} is not an installed app label; {hint}") from None
        every = inspection.discover()
        found = {
            model._meta.label: inspection.receivers_for_model(every, model)
            for model in config.get_models()
        }
        self.title = gettext("Wiring of the %(app)s app") % {"app": config.label}
        return super().get_context_data(
            **{
                **kwargs,
                "app_label": config.label,
                "app_name": config.verbose_name,
                "picture": self.picture(found, self.title, link_models=True),
                "models": [
                    (model_label, self.model_url(model_label), len(items))
                    for model_label, items in found.items()
                ],
                "total": sum(len(items) for items in found.values()),
            }
        )


class UnusedReceiversView(SignalPageView):
    """Receivers with no call in the activity store within its retention
    (:mod:`django_blinker.inspection.unused`), or why that cannot be told."""

    template_name = "django_blinker/unused.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        self.title = str(_("Receivers that never run"))
        try:
            found = unused.unused_receivers()
        except unused.StoreOff as off:
            return super().get_context_data(**{**kwargs, "store_off": str(off)})
        rows = [
            (
                item,
                self.url(
                    "detail",
                    system=item.signal_key[0],
                    namespace=item.signal_key[1],
                    name=item.signal_key[2],
                )
                if item.signal_key[0]
                else "",
            )
            for item in found.receivers
        ]
        return super().get_context_data(**{**kwargs, "unused": found, "rows": rows})


class PauseView(View):
    """POST: pause or resume one receiver site-wide (``django_blinker.pause_receiver``),
    then back to the page the button was on. Recorded in the admin log."""

    admin_site: AdminSite = admin.site
    http_method_names: ClassVar[list[str]] = ["post"]  # type: ignore[misc]

    @method_decorator(never_cache)
    @method_decorator(staff_member_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(PAUSE_PERMISSION):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def post(self, request: HttpRequest) -> HttpResponseBase:
        name = request.POST.get("receiver", "")
        action = request.POST.get("action", "")
        if action not in ("pause", "resume") or not name:
            return HttpResponseBadRequest(
                f"action={action!r}, receiver={name!r}; expected action 'pause' or 'resume' "
                "and a receiver name",
                content_type="text/plain; charset=utf-8",
            )
        if action == "pause":
            known = {r.name for signal in inspection.discover() for r in signal.receivers}
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return HttpResponseBadRequest(
                    f"{name!r} is not a receiver connected here{hint}",
                    content_type="text/plain; charset=utf-8",
                )
            pauses.pause(name, request.user, via="admin")
            messages.success(
                request,
                _("Paused %(name)s; every process skips it within %(bound)s.")
                % {"name": name, "bound": _bound()},
            )
        elif pauses.resume(name, request.user, via="admin"):
            released = outbox.release_held()
            messages.success(
                request,
                _("Resumed %(name)s; every process runs it again within %(bound)s.")
                % {"name": name, "bound": _bound()},
            )
            if released:
                messages.info(
                    request,
                    ngettext(
                        "%(count)d event kept while it was paused was published.",
                        "%(count)d events kept while it was paused were published.",
                        released,
                    )
                    % {"count": released},
                )
        else:
            messages.warning(request, _("%(name)s was not paused.") % {"name": name})
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse(f"{self.admin_site.name}:django_blinker_signal_changelist")
        return HttpResponseRedirect(back)


def _bound() -> str:
    every = conf.settings.pause_refresh
    if every is None:
        return str(_("the next read of the pauses (PAUSE_REFRESH is off here)"))
    return str(_("%(seconds)s seconds") % {"seconds": f"{every:g}"})
