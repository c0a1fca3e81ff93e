"""The picture of one model: every receiver that runs for its instances, and why."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Model
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import bulk
from ..bridging import senders as labels
from ..extension import BridgedSignal
from ..fields import field_changed, tracked_fields
from .catalogue import BLINKER, SignalInfo
from .describe import ReceiverInfo

MODEL_SIGNAL_ACTIONS = {
    "pre_init": "init",
    "post_init": "init",
    "pre_save": "save",
    "post_save": "save",
    "pre_delete": "delete",
    "post_delete": "delete",
    "m2m_changed": "m2m change",
}

MODEL_ACTIONS = (
    "init",
    "save",
    "field change",
    "delete",
    "m2m change",
    "bulk create",
    "bulk update",
    "update",
    "queryset delete",
)
"""Every ``ModelReceiver.action``, in the order the model page and ``--model`` show them."""

_ACTION_LABELS = {
    "init": _("init"),
    "save": _("save"),
    "field change": _("field change"),
    "delete": _("delete"),
    "m2m change": _("m2m change"),
    "bulk create": _("bulk create"),
    "bulk update": _("bulk update"),
    "update": _("update"),
    "queryset delete": _("queryset delete"),
}


def action_label(action: str) -> str:
    """``action`` (one of :data:`MODEL_ACTIONS`) in the active language, for pages."""
    return str(_ACTION_LABELS.get(action, action))


_MODEL_SENDER_ACTIONS: dict[int, str] = {
    id(field_changed): "field change",
    id(bulk.pre_bulk_create): "bulk create",
    id(bulk.post_bulk_create): "bulk create",
    id(bulk.pre_bulk_update): "bulk update",
    id(bulk.post_bulk_update): "bulk update",
    id(bulk.pre_update): "update",
    id(bulk.post_update): "update",
    id(bulk.post_queryset_delete): "queryset delete",
}
_SENT_BY_CHOICE = frozenset(_MODEL_SENDER_ACTIONS.values())


def find_model(label: str) -> type[Model]:
    """The installed model named ``app_label.ModelName``; a ``LookupError`` suggests one."""
    return labels.resolve(label)


@dataclass(frozen=True)
class ModelReceiver:
    """A receiver that runs for a model's instances, and why it runs.

    ``action`` is one of :data:`MODEL_ACTIONS`; ``reason`` says why this receiver runs for
    the model ("this model", "any sender", a parent or through model), followed, for
    ``field_changed`` and the bulk signals, by what makes the model send them ("tracked
    fields: status, total", "bulk manager: objects").
    """

    signal: SignalInfo
    receiver: ReceiverInfo
    action: str
    reason: str


def receivers_for_model(signals: Iterable[SignalInfo], model: type[Model]) -> list[ModelReceiver]:
    """Every receiver, of both systems, that runs when ``model`` is inited, saved, deleted,
    its many-to-many relations change, a tracked field changes (``field_changed``) or its
    bulk manager works (the bulk signals), including receivers for any sender.

    ``field_changed`` receivers are listed only for models that track fields, bulk-signal
    receivers only for models whose manager sends them: elsewhere they never run.
    """
    own = model._meta.label
    this_model = gettext("this model")
    reasons: dict[str, dict[str, str]] = {action: {} for action in MODEL_ACTIONS}
    for kind in ("init", "save", "delete"):
        reasons[kind][own] = this_model
    for parent in model._meta.get_parent_list():
        reasons["delete"].setdefault(
            parent._meta.label,
            gettext("parent model %(model)s (its row is deleted too)")
            % {"model": parent._meta.label},
        )
    for through, via in _through_models(model):
        reasons["m2m change"].setdefault(
            through._meta.label, gettext("through model of %(field)s") % {"field": via}
        )
    why_sent = _why_sent(model)
    for sent in why_sent:
        reasons[sent][own] = this_model
    found = []
    for signal in signals:
        action = _model_action(signal)
        if action is None or (action in _SENT_BY_CHOICE and action not in why_sent):
            continue
        for receiver in signal.receivers:
            if receiver.sender_model is None and receiver.sender == "any":
                reason = gettext("any sender")
            elif receiver.sender_model in reasons[action]:
                reason = reasons[action][receiver.sender_model]
            else:
                continue
            if action in why_sent:
                why = why_sent[action]
                reason = gettext("%(reason)s; %(why)s") % {"reason": reason, "why": why}
            found.append(ModelReceiver(signal, receiver, action, reason))
    return found


def _why_sent(model: type[Model]) -> dict[str, str]:
    # What makes the model send the signals it sends only by choice: tracked fields, a
    # bulk manager.
    why: dict[str, str] = {}
    tracked = tracked_fields(model)
    if tracked:
        why["field change"] = gettext("tracked fields: %(fields)s") % {"fields": ", ".join(tracked)}
    managers = bulk.bulk_managers(model)
    if managers:
        text = ngettext(
            "bulk manager: %(managers)s", "bulk managers: %(managers)s", len(managers)
        ) % {"managers": ", ".join(managers)}
        for bulk_action in ("bulk create", "bulk update", "update", "queryset delete"):
            why[bulk_action] = text
    return why


def _model_action(signal: SignalInfo) -> str | None:
    if not signal.is_model_signal:
        return None
    if signal.system == BLINKER and not isinstance(signal.signal, BridgedSignal):
        return _MODEL_SENDER_ACTIONS.get(id(signal.signal))
    return MODEL_SIGNAL_ACTIONS.get(signal.name)


def _through_models(model: type[Model]) -> Iterator[tuple[type[Model], str]]:
    for field_ in model._meta.many_to_many:
        through = getattr(field_.remote_field, "through", None)
        if isinstance(through, type):
            yield through, f"{model._meta.label}.{field_.name}"
    for relation in model._meta.related_objects:
        if relation.many_to_many:
            through = getattr(relation.remote_field.remote_field, "through", None)
            if isinstance(through, type):
                yield through, f"{relation.related_model._meta.label}.{relation.remote_field.name}"
