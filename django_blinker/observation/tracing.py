"""Receiver calls as OpenTelemetry spans, and trace context carried to workers.

With ``DJANGO_BLINKER["TRACING"]`` on and ``opentelemetry-api`` installed, each call of a
bridged signal's receiver is a span under the current span (:data:`SPAN_ATTRIBUTES` name
its attributes). After-commit receivers get theirs at commit, under the span that was
current when the signal was sent. A background event carries that context in its signed
payload (``"trace"``: the W3C ``traceparent`` and whatever else the configured
propagators inject), and the worker runs the receiver in a span with that parent, so it
joins the sender's trace.

``TRACING_EXCLUDE`` leaves out the calls of receivers whose signal name or dotted name
matches one of its patterns (``fnmatch``): an excluded inline receiver is not wrapped at
all. ``TRACING_SAMPLE`` keeps that share of receiver spans, drawn per call; under a
parent span that is not sampled no receiver span is started at all.

Off, or without the API, nothing is wrapped and no hook is registered: dispatch, commit
callbacks and deliveries cost what they cost without this module. ``opentelemetry`` is
imported only here, and only once tracing is on.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import random
import re
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured

from .. import after_commit, conf, extension
from ..bridging.naming import receiver_name, sender_label
from ..delivery.event import Payload
from ..delivery.registrations import Registration
from ..extension import BridgedSignal, Call, Extension, Receiver

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import Attributes

INLINE = "inline"
AFTER_COMMIT = "after_commit"
BACKGROUND = "background"

SIGNAL = "django_blinker.signal"
SENDER = "django_blinker.sender"
RECEIVER = "django_blinker.receiver"
MODE = "django_blinker.mode"
EVENT = "django_blinker.event"
SPAN_ATTRIBUTES = (SIGNAL, SENDER, RECEIVER, MODE, EVENT)
"""The attributes of a receiver span: signal name, sender, the receiver's dotted name, how
it runs (:data:`INLINE`, :data:`AFTER_COMMIT` or :data:`BACKGROUND`) and, for background
receivers, the event id."""

MAX_CARRIER_ENTRIES = 8
MAX_CARRIER_KEY = 64
MAX_CARRIER_VALUE = 1024
"""A carried trace context is a dict of at most 8 str keys (64 characters each) to str
values (1,024 characters each): ``traceparent`` is 55, ``tracestate`` at most 512."""

logger = logging.getLogger("django_blinker")

enabled = False
"""Whether receiver calls are traced now: ``TRACING`` on and the API installed."""

_installed = False
_excluding: re.Pattern[str] | None = None
_sample = 1.0
_generation = 0


@functools.cache
def _opentelemetry() -> ModuleType | None:
    """``opentelemetry.trace``, imported on first use; None when the API is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def is_available() -> bool:
    """Whether ``opentelemetry-api`` can be imported."""
    return _opentelemetry() is not None


class _Tracing(Extension):
    """Tracing as an extension, installed only while ``TRACING`` is on (and
    ``opentelemetry-api`` importable): inline receivers get a span where plans are built,
    after-commit ones at commit, background ones in the worker."""

    name = "trace"

    def plan(self, signal: BridgedSignal, receiver: Receiver, call: Call, is_async: bool) -> Call:
        return _decorate(signal, receiver, call, is_async)

    def commit(
        self, deferred: Any, sender: Any, receiver: Callable[..., Any]
    ) -> Callable[..., Any]:
        return _defer(deferred, sender, receiver)

    def worker(
        self, payload: Any, registration: Any, receiver: Callable[..., Any]
    ) -> Callable[..., Any]:
        return _run_in_span(payload, registration, receiver)


_TRACING = _Tracing()


def install() -> None:
    """Follow ``TRACING`` from now on (from ``AppConfig.ready``): the extension is installed
    while it is on, and nothing at all while it is off. An invalid setting leaves tracing
    off here, for start-up to go on; the first send refuses it."""
    global _installed
    _installed = True
    extension.on_settings(_follow_setting)
    _follow_setting()


def uninstall() -> None:
    """Undo :func:`install`."""
    global _installed
    _installed = False
    refresh()


def _follow_setting() -> None:
    global _refusal
    try:
        refresh()
    except ImproperlyConfigured as error:
        # Refused where tracing is first needed, as every invalid setting is: the plan
        # built for the next send.
        _refusal = error
        extension.install(_TRACING)
    else:
        _refusal = None


_refusal: ImproperlyConfigured | None = None


def refresh() -> None:
    """Turn tracing on or off as the setting says: at start-up, and whenever
    ``DJANGO_BLINKER`` may have changed. An invalid setting raises ``ImproperlyConfigured``
    (from :data:`conf.settings`) and changes nothing."""
    global enabled, _excluding, _sample, _generation
    config = conf.settings
    enabled = _installed and config.tracing and is_available()
    excluding, sample = _matcher(config.tracing_exclude), config.tracing_sample
    if (excluding, sample) != (_excluding, _sample):
        _excluding, _sample = excluding, sample
        _generation += 1
    if enabled:
        extension.install(_TRACING)
    else:
        extension.uninstall(_TRACING)


@functools.cache
def _matcher(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns))


def excluded(signal: str, receiver: str) -> bool:
    """Whether ``TRACING_EXCLUDE`` leaves the calls of ``receiver`` (its dotted name) to
    ``signal`` (its name) out of tracing: a pattern matches either name."""
    matcher = _excluding
    return matcher is not None and bool(matcher.match(signal) or matcher.match(receiver))


def _sampled(parent: Context | None = None) -> bool:
    """Whether this receiver call gets a span under ``TRACING_SAMPLE`` < 1: never under a
    parent span that is not sampled, else with that probability."""
    trace = _opentelemetry()
    assert trace is not None
    found = trace.get_current_span(parent).get_span_context()
    if found.is_valid and not found.trace_flags.sampled:
        return False
    return random.random() < _sample


def _tracer() -> Any:
    trace = _opentelemetry()
    assert trace is not None
    return trace.get_tracer("django_blinker")


def _attributes(signal: str, sender: Any, receiver: str, mode: str) -> Attributes:
    return {
        SIGNAL: signal,
        SENDER: "None" if sender is None else sender_label(sender),
        RECEIVER: receiver,
        MODE: mode,
    }


# Inline receivers: a plan decorator -----------------------------------------------------


def _decorate(signal: BridgedSignal, receiver: Receiver, call: Call, is_async: bool) -> Call:
    if _refusal is not None:
        raise _refusal
    if not enabled or isinstance(receiver, after_commit.DeferredReceiver):
        # Deferred receivers are traced where they run: at commit, or in the worker.
        return call
    tracer, name = _tracer(), receiver_name(receiver)
    signal_name, span_name = signal.name, f"{signal.name} {name}"
    if excluded(signal_name, name):
        return call
    sampling = _sample < 1.0
    if is_async:

        async def traced_async(sender: Any, **kwargs: Any) -> Any:
            if sampling and not _sampled():
                return await call(sender, **kwargs)
            attributes = _attributes(signal_name, sender, name, INLINE)
            with tracer.start_as_current_span(span_name, attributes=attributes):
                return await call(sender, **kwargs)

        return traced_async

    def traced(sender: Any, **kwargs: Any) -> Any:
        if sampling and not _sampled():
            return call(sender, **kwargs)
        with tracer.start_as_current_span(
            span_name, attributes=_attributes(signal_name, sender, name, INLINE)
        ):
            return call(sender, **kwargs)

    return traced


# After-commit receivers: the context of the send, the span at commit --------------------


# Whether an after-commit wrapper is excluded, as of a generation of the settings, kept on
# the wrapper: an excluded receiver's send then costs one attribute read.
_EXCLUDED = "_django_blinker_tracing_excluded"


def _names(wrapper: after_commit.DeferredReceiver) -> tuple[str, str]:
    signal_name = str(getattr(wrapper.signal, "name", None) or repr(wrapper.signal))
    return signal_name, receiver_name(wrapper.__wrapped__)


def _defer(
    wrapper: after_commit.DeferredReceiver, sender: Any, receiver: Callable[..., Any]
) -> Callable[..., Any]:
    known = wrapper.__dict__.get(_EXCLUDED)
    if known is None or known[0] != _generation:
        known = (_generation, excluded(*_names(wrapper)))
        setattr(wrapper, _EXCLUDED, known)
    if known[1]:
        return receiver
    from opentelemetry import context

    parent = context.get_current()
    signal_name, name = _names(wrapper)
    if iscoroutinefunction(receiver):
        receiver = async_to_sync(receiver)
    sampling = _sample < 1.0

    def traced(sender: Any, **kwargs: Any) -> Any:
        if sampling and not _sampled(parent):
            return receiver(sender, **kwargs)
        with _tracer().start_as_current_span(
            f"{signal_name} {name}",
            context=parent,
            attributes=_attributes(signal_name, sender, name, AFTER_COMMIT),
        ):
            return receiver(sender, **kwargs)

    return traced


# Background receivers: the carrier and the worker's span --------------------------------


def carrier(signal: str = "", receiver: str = "") -> dict[str, str] | None:
    """The current trace context as a background payload carries it, or None when tracing
    is off, no span is current, or ``TRACING_EXCLUDE`` leaves ``receiver``'s calls to
    ``signal`` out. Entries past the limits of :func:`valid_carrier` are left out."""
    if not enabled or excluded(signal, receiver):
        return None
    from opentelemetry import propagate

    found: dict[str, str] = {}
    propagate.inject(found)
    kept = {key: value for key, value in found.items() if _valid_entry(key, value)}
    return dict(list(kept.items())[:MAX_CARRIER_ENTRIES]) or None


def _valid_entry(key: object, value: object) -> bool:
    return (
        isinstance(key, str)
        and isinstance(value, str)
        and 0 < len(key) <= MAX_CARRIER_KEY
        and len(value) <= MAX_CARRIER_VALUE
    )


def valid_carrier(value: object) -> bool:
    """Whether ``value`` has the shape of a carried trace context: a dict of at most
    :data:`MAX_CARRIER_ENTRIES` str keys to str values, within the length limits."""
    return (
        isinstance(value, dict)
        and len(value) <= MAX_CARRIER_ENTRIES
        and all(_valid_entry(key, item) for key, item in value.items())
    )


def _parent_of(payload: Payload) -> Context | None:
    """The context a worker's receiver span starts in: the carried one, unless a span of
    the same trace is already current (a Celery or Tasks instrumentation's task span)."""
    carried = payload.get("trace")
    if carried is None:
        return None
    if not valid_carrier(carried):
        logger.warning(
            "Event %s: its trace context is not a dict of at most %d short str entries "
            "(%s); the receiver span is not joined to the sender's trace",
            payload.get("event"),
            MAX_CARRIER_ENTRIES,
            type(carried).__name__,
        )
        return None
    from opentelemetry import propagate, trace

    extracted = propagate.extract(carried)
    joined = trace.get_current_span(extracted).get_span_context()
    current = trace.get_current_span().get_span_context()
    if current.is_valid and current.trace_id == joined.trace_id:
        return None
    return extracted


def _run_in_span(
    payload: Payload, found: Registration, receiver: Callable[..., Any]
) -> Callable[..., Any]:
    name = receiver_name(found.receiver)
    if excluded(found.signal, name):
        return receiver
    parent = _parent_of(payload)
    sampling = _sample < 1.0

    def traced(sender: Any, **kwargs: Any) -> Any:
        if sampling and not _sampled(parent):
            return receiver(sender, **kwargs)
        attributes = dict(_attributes(found.signal, sender, name, BACKGROUND) or {})
        attributes[EVENT] = str(payload["event"])
        with _tracer().start_as_current_span(
            f"{found.signal} {name}", context=parent, attributes=attributes
        ):
            return receiver(sender, **kwargs)

    return traced
