"""What runs for one model, and the wiring picture of one app's models."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.http import Http404
from django.utils.translation import gettext

from .. import inspection
from ..observation import activity
from .page import RECEIVERS_PER_PAGE, ReceiverRow, SignalPageView


@dataclass(frozen=True)
class ModelSection:
    """What runs on one action of a model: the first rows, how many there are in all,
    and the signals whose pages list the rows left out."""

    action: str
    rows: list[ReceiverRow]
    total: int
    hidden: int
    hidden_in: list[tuple[str, str]]


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
            # The first page's worth: the rest are on each signal's own (paginated) page.
            rows = [
                self.receiver_row(
                    item.signal,
                    item.receiver,
                    reason=item.reason,
                    signal=item.signal,
                    signal_url=self.signal_url(item.signal),
                )
                for item in items[:RECEIVERS_PER_PAGE]
            ]
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
