"""The ``DJANGO_BLINKER`` setting: its keys, their one validation, and :data:`settings`.

Every module reads the setting through :data:`settings`, one typed property per key, as
django-cors-headers does. :func:`problems` is the only place the setting is validated
(:func:`problem` for one value): the system checks ``django_blinker.E001`` to ``E003``
report what it finds, and a read refuses an invalid setting with ``ImproperlyConfigured``
rather than going on with defaults: every read, when the setting is not a dict or has an
unknown key; a read of that key, when a value is invalid.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

SETTING_NAME = "DJANGO_BLINKER"

Rule = Callable[[Any], "str | None"]
"""What is wrong with a value of the right type, or None."""


@dataclass(frozen=True)
class _Range:
    """A rule that takes numbers from ``minimum`` to ``maximum`` (the docs state both)."""

    minimum: float
    maximum: float
    whole: bool

    def __call__(self, value: float) -> str | None:
        if self.minimum <= value <= self.maximum:
            return None
        if self.whole:
            return f"expected a whole number from {self.minimum:.0f} to {self.maximum:.0f}"
        return f"expected a number from {self.minimum:.10g} to {self.maximum:.10g}"


def _one_of(*choices: object) -> Rule:
    def rule(value: Any) -> str | None:
        return None if value in choices else f"expected one of {', '.join(map(repr, choices))}"

    return rule


def _at_least(minimum: float, maximum: float = 86_400) -> Rule:
    return _Range(minimum, maximum, whole=False)


def _none_or(rule: Rule) -> Rule:
    def none_or(value: Any) -> str | None:
        return None if value is None else rule(value)

    return none_or


def _between(minimum: int, maximum: int) -> Rule:
    return _Range(minimum, maximum, whole=True)


def _dotted_paths(value: Sequence[Any]) -> str | None:
    wrong = [item for item in value if not isinstance(item, str)]
    return f"every entry must be a dotted module path (str), not {wrong[0]!r}" if wrong else None


def _submodule_names(value: Sequence[Any]) -> str | None:
    for item in value:
        if not isinstance(item, str) or not all(part.isidentifier() for part in item.split(".")):
            return (
                "every entry must be the name of a module inside each app (str), such as "
                f"'receivers', not {item!r}"
            )
    return None


def _name_patterns(value: Sequence[Any]) -> str | None:
    for item in value:
        if not isinstance(item, str) or not item.strip():
            return (
                "every entry must be a name pattern (str, fnmatch style), such as 'post_init' "
                f"or 'shop.receivers.*', not {item!r}"
            )
    return None


def _variable_paths(value: Sequence[Any]) -> str | None:
    for item in value:
        parts = item.split(".") if isinstance(item, str) else []
        if len(parts) < 2 or not all(part.isidentifier() for part in parts):
            return (
                "every entry must be the dotted path of a contextvars.ContextVar (str), such "
                f"as 'shop.context.request_id', not {item!r}"
            )
    return None


_FIELD_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")


def _field_labels(value: Sequence[Any]) -> str | None:
    for item in value:
        if not isinstance(item, str) or not _FIELD_LABEL.fullmatch(item):
            return (
                "every entry must name a model field as 'app_label.ModelName.field' (str), "
                f"such as 'accounts.Profile.recovery_code', not {item!r}"
            )
    return None


def _tasks_alias(value: str) -> str | None:
    # Django's default TASKS (6.0+, and the backport) has the one alias "default".
    aliases = getattr(django_settings, "TASKS", None)
    if not isinstance(aliases, dict):
        aliases = {"default": None}
    if value not in aliases:
        return f"expected an alias of settings.TASKS: {', '.join(map(repr, aliases))}"
    return None


def _cache_alias(value: str | None) -> str | None:
    aliases = getattr(django_settings, "CACHES", None) or {"default": None}
    if value is None or value in aliases:
        return None
    return f"expected an alias of settings.CACHES: {', '.join(map(repr, aliases))}"


@dataclass(frozen=True)
class Key:
    """One key of the setting: its default, the types it takes, and any rule beyond them."""

    default: Any
    kind: type | tuple[type, ...]
    rule: Rule | None = None


KEYS: dict[str, Key] = {
    "ROBUST": Key(False, bool),
    # None runs background receivers inline after commit.
    "BACKGROUND_BACKEND": Key(None, (str, type(None)), _one_of(None, "inline", "celery", "tasks")),
    # The Django Tasks backend alias that background receivers are enqueued on.
    "TASKS_BACKEND": Key("default", str, _tasks_alias),
    # Write background events to the outbox table in the sending transaction; the sending
    # process publishes them right after commit, a relay whatever it could not.
    "OUTBOX": Key(True, bool),
    # Failed publishes of one outbox event before it is dead-lettered: 20 is about an hour
    # of broker outage (waits of 1, 2, 4 ... seconds, at most five minutes apart).
    "OUTBOX_MAX_ATTEMPTS": Key(20, int, _at_least(1, 10_000)),
    # Seconds an unconfirmed outbox event may trail a confirmed later one (longer than
    # OUTBOX_EVENTS_PER_MESSAGE times the slowest receiver) before the relay publishes it
    # again; the newest after 12 times this.
    "OUTBOX_CONFIRM_AFTER": Key(300, (int, float), _at_least(1)),
    # Events the relay puts in one task message (a batch task): a backlog drains with one
    # task's overhead per this many events. 1 publishes each event as a task of its own.
    "OUTBOX_EVENTS_PER_MESSAGE": Key(10, int, _at_least(1, 100)),
    # Seconds a publish to a broker may take before the event is reported as not enqueued.
    "PUBLISH_TIMEOUT": Key(5.0, (int, float), _at_least(0.1, 600)),
    # Seconds a signed background message stays valid; a worker refuses an older one as it
    # refuses a forgery. Three days, as Django's PASSWORD_RESET_TIMEOUT; see W006 for the floor.
    "MESSAGE_MAX_AGE": Key(259_200, (int, float), _at_least(60, 365 * 86_400)),
    # Model fields, besides user passwords and secret-looking names, whose values never
    # travel in a snapshot and never show in pages or logs: "app_label.ModelName.field".
    "REDACTED_FIELDS": Key((), (list, tuple), _field_labels),
    # Seconds after which a RUNNING django-tasks-db delivery is taken as its worker's death.
    "STALE_TASK_AFTER": Key(3600, int, _at_least(1, 7 * 86_400)),
    # Each installed app's submodules imported at start-up, as the admin imports admin.py.
    "RECEIVER_MODULES": Key(("receivers", "signals"), (list, tuple), _submodule_names),
    # Modules, besides each app's signals module, whose Blinker and Django signals are listed.
    "SIGNAL_MODULES": Key((), (list, tuple), _dotted_paths),
    # Record receiver calls for the admin pages: True, False, or None to follow DEBUG.
    "ACTIVITY": Key(None, (bool, type(None))),
    # A cache alias where every process writes its activity, for site totals; None: off.
    "ACTIVITY_STORE": Key(None, (str, type(None)), _cache_alias),
    # Seconds between two writes of a process's activity to ACTIVITY_STORE.
    "ACTIVITY_FLUSH_INTERVAL": Key(10.0, (int, float), _at_least(0.01, 3600)),
    # How the store lists this process: "web", "worker", or None (a worker once it ran a
    # background event from a queue).
    "ACTIVITY_ROLE": Key(None, (str, type(None)), _one_of(None, "web", "worker")),
    # Seconds between two reads of the paused receivers in each process: the bound within
    # which every process honours a pause or a resume. None: no reads (test settings).
    "PAUSE_REFRESH": Key(5.0, (int, float, type(None)), _none_or(_at_least(0.05, 300))),
    # Each receiver call as an OpenTelemetry span; needs opentelemetry-api (W005 otherwise).
    "TRACING": Key(False, bool),
    # Signal names or receiver dotted names (fnmatch patterns) whose receiver calls are
    # never traced, at no cost per call.
    "TRACING_EXCLUDE": Key((), (list, tuple), _name_patterns),
    # The share of receiver calls traced (0 to 1), drawn per call, under a parent that is
    # sampled (none under one that is not).
    "TRACING_SAMPLE": Key(1.0, (int, float), _at_least(0, 1)),
    # Context variables whose values, when a signal is sent, are set again around its
    # after-commit and background receivers: dotted paths such as "shop.context.request_id".
    "CARRIED_CONTEXT": Key((), (list, tuple), _variable_paths),
    # Containers nested in one background event's sender or keyword value, judged when it is
    # sent and again in the worker. At most 100: far below Python's recursion limit on both
    # sides (docs/settings.md says why).
    "PAYLOAD_MAX_DEPTH": Key(32, int, _between(4, 100)),
    # Bytes of one signed background message (UTF-8), judged when it is sent and before a
    # worker reads it: 1 MiB by default, 4 KiB to 64 MiB.
    "PAYLOAD_MAX_BYTES": Key(1_048_576, int, _between(4096, 64 * 1_048_576)),
}

DEFAULTS: dict[str, Any] = {name: key.default for name, key in KEYS.items()}
"""Every key the setting accepts, with its default."""


def user_settings() -> dict[str, Any]:
    """The raw ``DJANGO_BLINKER`` dict (empty when unset or not a dict: E001 reports that)."""
    value = getattr(django_settings, SETTING_NAME, None)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the setting, as the system check ``id`` reports it."""

    id: str
    message: str
    hint: str | None = None


def problems() -> list[Problem]:
    """Everything wrong with ``DJANGO_BLINKER``: E001 when it is not a dict, else E002 for
    each unknown key and E003 for each invalid value. Empty when it is unset or valid."""
    value = getattr(django_settings, SETTING_NAME, {})
    if not isinstance(value, dict):
        return [
            Problem(
                id="django_blinker.E001",
                message=f"{SETTING_NAME} must be a dict, not {type(value).__name__}: {value!r}.",
                hint=f'For example {SETTING_NAME} = {{"ROBUST": False}}.',
            )
        ]
    found = []
    for name, item in value.items():
        if name not in KEYS:
            found.append(
                Problem(
                    id="django_blinker.E002",
                    message=_unknown(name),
                    hint=f"Known keys: {', '.join(sorted(KEYS))}.",
                )
            )
        elif wrong := problem(name, item):
            found.append(Problem(id="django_blinker.E003", message=wrong))
    return found


def _unknown(name: object) -> str:
    close = difflib.get_close_matches(name.upper(), KEYS, n=1) if isinstance(name, str) else []
    suggestion = f"; did you mean {close[0]!r}?" if close else "."
    return f"{SETTING_NAME} has an unknown key {name!r}{suggestion}"


def summary(found: Sequence[Problem]) -> str:
    """``found`` in one line: every message, in order."""
    return " ".join(item.message for item in found)


def _kinds(key: Key) -> tuple[type, ...]:
    return key.kind if isinstance(key.kind, tuple) else (key.kind,)


def problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the key ``name``, as a sentence; None if it is valid."""
    key = KEYS[name]
    # bool is an int to Python, never a count or a number of seconds here.
    if not isinstance(value, key.kind) or (isinstance(value, bool) and bool not in _kinds(key)):
        kinds = _kinds(key)
        expected = " or ".join(kind.__name__ for kind in kinds)
        return (
            f"{SETTING_NAME}[{name!r}] must be {expected}, not {type(value).__name__}: {value!r}."
        )
    found = key.rule(value) if key.rule is not None else None
    return f"{SETTING_NAME}[{name!r}] is {value!r}: {found}." if found else None


def value_alone(name: str) -> Any:
    """The value of the key ``name`` judged alone: the user's, or the default when it is
    unset or the setting is not a dict; ``ImproperlyConfigured`` if the value is invalid.

    For start-up, which goes on whatever else is wrong so that ``manage.py check`` can list
    it; everything else reads :data:`settings`, which refuses an invalid setting.
    """
    given = user_settings()
    if name not in given:
        return KEYS[name].default
    value = given[name]
    wrong = problem(name, value)
    if wrong:
        raise ImproperlyConfigured(wrong)
    return value


_UNSET = object()


class Settings:
    """The effective ``DJANGO_BLINKER`` settings, one typed property per key.

    Each read takes the user's value, or the default, so ``override_settings`` applies at
    once. A setting that is not a dict or has an unknown key makes every read raise
    ``ImproperlyConfigured`` naming every problem (:func:`problems`); an invalid value makes
    reads of its key raise, saying why (:func:`problem`).
    """

    def _value(self, name: str) -> Any:
        given = getattr(django_settings, SETTING_NAME, _UNSET)
        if given is not _UNSET and (not isinstance(given, dict) or not given.keys() <= KEYS.keys()):
            raise ImproperlyConfigured(
                f"{SETTING_NAME} is invalid: {summary(problems())} "
                "(manage.py check lists every problem)"
            )
        return value_alone(name)

    @property
    def robust(self) -> bool:
        """``ROBUST``: log a receiver's exception and go on, instead of raising it."""
        return bool(self._value("ROBUST"))

    @property
    def background_backend(self) -> str | None:
        """``BACKGROUND_BACKEND``: ``"celery"``, ``"tasks"``, ``"inline"``, or None (unset:
        inline after commit, which ``check --deploy`` warns about)."""
        value: str | None = self._value("BACKGROUND_BACKEND")
        return value

    @property
    def tasks_backend(self) -> str:
        """``TASKS_BACKEND``: the alias in ``settings.TASKS`` that jobs are enqueued on."""
        return str(self._value("TASKS_BACKEND"))

    @property
    def outbox(self) -> bool:
        """``OUTBOX``: write background events to the outbox table in the transaction (the
        default); the sender publishes them after commit, a relay what it left."""
        return bool(self._value("OUTBOX"))

    @property
    def outbox_max_attempts(self) -> int:
        """``OUTBOX_MAX_ATTEMPTS``: publishes of one outbox event before it is dead-lettered."""
        return int(self._value("OUTBOX_MAX_ATTEMPTS"))

    @property
    def outbox_confirm_after(self) -> float:
        """``OUTBOX_CONFIRM_AFTER``: seconds an unconfirmed event may trail a confirmed later
        one before it is published again."""
        return float(self._value("OUTBOX_CONFIRM_AFTER"))

    @property
    def outbox_events_per_message(self) -> int:
        """``OUTBOX_EVENTS_PER_MESSAGE``: events the relay puts in one task message."""
        return int(self._value("OUTBOX_EVENTS_PER_MESSAGE"))

    @property
    def publish_timeout(self) -> float:
        """``PUBLISH_TIMEOUT``: seconds a publish may wait on the broker."""
        return float(self._value("PUBLISH_TIMEOUT"))

    @property
    def message_max_age(self) -> float:
        """``MESSAGE_MAX_AGE``: seconds a signed background message stays valid."""
        return float(self._value("MESSAGE_MAX_AGE"))

    @property
    def redacted_fields(self) -> tuple[str, ...]:
        """``REDACTED_FIELDS``: ``"app_label.ModelName.field"`` labels of sensitive fields."""
        return tuple(self._value("REDACTED_FIELDS"))

    @property
    def stale_task_after(self) -> int:
        """``STALE_TASK_AFTER``: seconds after which a RUNNING delivery is taken as dead."""
        return int(self._value("STALE_TASK_AFTER"))

    @property
    def receiver_modules(self) -> tuple[str, ...]:
        """``RECEIVER_MODULES``: each app's submodules imported at start-up."""
        return tuple(self._value("RECEIVER_MODULES"))

    @property
    def signal_modules(self) -> tuple[str, ...]:
        """``SIGNAL_MODULES``: modules whose signals are listed, besides apps' ``signals``."""
        return tuple(self._value("SIGNAL_MODULES"))

    @property
    def activity(self) -> bool | None:
        """``ACTIVITY``: record receiver calls; None follows ``DEBUG``."""
        value: bool | None = self._value("ACTIVITY")
        return value

    @property
    def activity_store(self) -> str | None:
        """``ACTIVITY_STORE``: the cache alias of site-wide activity; None is off."""
        value: str | None = self._value("ACTIVITY_STORE")
        return value

    @property
    def pause_refresh(self) -> float | None:
        """``PAUSE_REFRESH``: seconds between two reads of the paused receivers, or None."""
        value = self._value("PAUSE_REFRESH")
        return None if value is None else float(value)

    @property
    def activity_flush_interval(self) -> float:
        """``ACTIVITY_FLUSH_INTERVAL``: seconds between two writes to the store."""
        return float(self._value("ACTIVITY_FLUSH_INTERVAL"))

    @property
    def activity_role(self) -> str | None:
        """``ACTIVITY_ROLE``: ``"web"``, ``"worker"``, or None to tell by what runs."""
        value: str | None = self._value("ACTIVITY_ROLE")
        return value

    @property
    def tracing(self) -> bool:
        """``TRACING``: each receiver call is an OpenTelemetry span, when the API is installed."""
        return bool(self._value("TRACING"))

    @property
    def tracing_exclude(self) -> tuple[str, ...]:
        """``TRACING_EXCLUDE``: name patterns of signals and receivers left out of tracing."""
        return tuple(self._value("TRACING_EXCLUDE"))

    @property
    def tracing_sample(self) -> float:
        """``TRACING_SAMPLE``: the share of receiver calls traced, from 0 to 1."""
        return float(self._value("TRACING_SAMPLE"))

    @property
    def carried_context(self) -> tuple[str, ...]:
        """``CARRIED_CONTEXT``: dotted paths of the context variables carried to deferred
        receivers."""
        return tuple(self._value("CARRIED_CONTEXT"))

    @property
    def payload_max_depth(self) -> int:
        """``PAYLOAD_MAX_DEPTH``: containers one background event's sender or keyword value
        may nest."""
        return int(self._value("PAYLOAD_MAX_DEPTH"))

    @property
    def payload_max_bytes(self) -> int:
        """``PAYLOAD_MAX_BYTES``: the size of one signed background message, in bytes."""
        return int(self._value("PAYLOAD_MAX_BYTES"))


settings = Settings()
"""The effective settings: ``conf.settings.robust``, ``conf.settings.publish_timeout``..."""
