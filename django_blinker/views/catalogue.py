"""The signal list (search, filters by system, namespace and app) and one signal's page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.paginator import Paginator
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import inspection
from ..inspection import SignalInfo
from ..inspection.describe import ReceiverInfo
from ..observation import activity
from ..observation.figures import SignalTotals
from .page import RECEIVERS_PER_PAGE, SignalPageView, page_numbers

SIGNALS_PER_PAGE = 100
MATCHES_SHOWN = 5
_SYSTEM_LABELS = {inspection.BLINKER: "Blinker", inspection.DJANGO: "Django"}


@dataclass(frozen=True)
class SignalRow:
    """A signal in the list: its receivers matching the search and its figures."""

    info: SignalInfo
    url: str
    matches: tuple[ReceiverInfo, ...]
    more_matches: int
    activity: SignalTotals | None
    recorded: bool = False


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
        return [(page, self._link(p=str(page))) for page in page_numbers(number, count)]


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
                    for number in page_numbers(page.number, page.paginator.num_pages)
                ],
                "counterpart": counterpart,
                "counterpart_url": self.signal_url(counterpart) if counterpart else None,
                "figures": self.figures(signal),
                "breakdown": self.site.breakdown(_store_name(signal)) if self.site else [],
                "recorded": activity.is_recorded(signal.signal),
                "show_figures": activity.is_enabled() and activity.is_recorded(signal.signal),
            }
        )
