"""Receivers paused site-wide, by name, and how every process comes to know it.

A pause is a row of :class:`~django_blinker.models.PausedReceiver` naming a receiver as
the admin and ``manage.py signals`` print it (``module.qualname``). Each process keeps the
names in memory and a daemon thread reads the table again every ``PAUSE_REFRESH`` seconds:
a pause or a resume reaches every process within that bound, and a send never reads the
database or a cache for it. When the names change, every plan is rebuilt once (see
:mod:`.plans`): a paused receiver's place in a plan is taken by a stand-in, so with nothing
paused dispatch costs exactly what it costs without this module.

The stand-in of an inline or after-commit receiver counts the call as skipped and calls
nothing; a background receiver's stand-in keeps the event in the outbox, where the relay
leaves it until the receiver is resumed (:mod:`django_blinker.background.receiver`).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connections, router

from .. import conf
from ..process_thread import ProcessThread
from .naming import receiver_name

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from ..models import PausedReceiver

logger = logging.getLogger("django_blinker")

HOLD_ATTRIBUTE = "django_blinker_hold"
"""A receiver (a background wrapper) with a callable of this name is not skipped while
paused: the callable takes the call instead, and keeps the event for later."""


@dataclass(frozen=True)
class Pause:
    """One paused receiver: its name, since when, and who paused it."""

    receiver: str
    paused_at: datetime
    paused_by: str


_lock = threading.Lock()
_names: frozenset[str] = frozenset()
_pauses: dict[str, Pause] = {}
_skips: dict[tuple[str, str], itertools.count[int]] = {}
_listeners: list[Callable[[], None]] = []
_resume_listeners: list[Callable[[frozenset[str]], None]] = []


def paused_names() -> frozenset[str]:
    """The names of the receivers paused, as this process last read them."""
    return _names


def is_paused(name: str) -> bool:
    """Whether the receiver named ``name`` is paused, as this process last read it."""
    return name in _names


def pauses() -> list[Pause]:
    """Every pause as this process last read it, oldest first."""
    return sorted(_pauses.values(), key=lambda pause: pause.paused_at)


def pause_of(name: str) -> Pause | None:
    """The pause of the receiver named ``name``, or None."""
    return _pauses.get(name)


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` (no arguments) whenever the paused names change in this process."""
    if listener not in _listeners:
        _listeners.append(listener)


def on_resume(listener: Callable[[frozenset[str]], None]) -> None:
    """Call ``listener(names)`` from the watcher when it reads that ``names`` were resumed,
    and again on its next read (a send that held an event in a transaction still open at
    the first call has committed by the second)."""
    if listener not in _resume_listeners:
        _resume_listeners.append(listener)


def skipped(signal: str, receiver: str) -> int:
    """Calls of ``receiver`` (a name) by ``signal`` (a name) skipped in this process."""
    counter = _skips.get((signal, receiver))
    # itertools.count has no reader; its repr is "count(N)", N being the next value.
    return 0 if counter is None else int(repr(counter)[6:-1])


def skips() -> dict[tuple[str, str], int]:
    """Every skipped count of this process, by (signal name, receiver name)."""
    return {key: skipped(*key) for key in list(_skips)}


async def _nothing() -> None:
    return None


def stand_in(signal: Any, receiver: Any, is_async: bool) -> Callable[..., Any] | None:
    """What a plan calls in place of ``receiver`` while it is paused; None when it is not.

    A background wrapper's hold keeps the event; anything else is skipped and counted.
    """
    name = receiver_name(receiver)
    if name not in _names:
        return None
    hold = getattr(receiver, HOLD_ATTRIBUTE, None)
    if callable(hold):
        return hold  # type: ignore[no-any-return]
    key = (str(getattr(signal, "name", signal)), name)
    with _lock:
        counter = _skips.setdefault(key, itertools.count())
    tick = counter.__next__

    if is_async:

        def skip_async(sender: Any, **kwargs: Any) -> Any:
            tick()
            return _nothing()

        return skip_async

    def skip(sender: Any, **kwargs: Any) -> None:
        tick()

    return skip


def apply(found: list[Pause]) -> bool:
    """Make ``found`` this process's pauses; True if the paused names changed (then every
    listener is told)."""
    global _names, _pauses
    names = frozenset(pause.receiver for pause in found)
    with _lock:
        changed = names != _names
        _pauses = {pause.receiver: pause for pause in found}
        _names = names
    if changed:
        logger.info("django-blinker: paused receivers now: %s", ", ".join(sorted(names)) or "none")
        for listener in list(_listeners):
            listener()
    return changed


def database() -> str:
    """The alias whose table holds the pauses: where the router sends the model's writes."""
    return router.db_for_write(_model()) or DEFAULT_DB_ALIAS


def _model() -> type[PausedReceiver]:
    # Imported when used: the bridge loads before the app registry is ready.
    from ..models import PausedReceiver

    return PausedReceiver


def read() -> list[Pause]:
    """The pauses in the database (raises the database's errors)."""
    rows = _model().objects.using(database()).values_list("receiver", "paused_at", "paused_by")
    return [Pause(*row) for row in rows]


def refresh() -> bool:
    """Read the pauses from the database now; True if the paused names changed."""
    return apply(read())


def pause(name: str, user: AbstractBaseUser | AnonymousUser, *, via: str) -> Pause:
    """Pause the receiver named ``name`` everywhere, as ``user``; recorded in the admin log
    (``via`` says through what: "admin", "manage.py signals"). Pausing a paused receiver
    changes nothing and returns its pause."""
    from django.db import transaction

    model = _model()
    using = database()
    with transaction.atomic(using=using):
        row, created = model.objects.using(using).get_or_create(
            receiver=name, defaults={"paused_by": user.get_username()}
        )
        if created:
            _log(user, row, added=True, via=via)
    refresh()
    return Pause(row.receiver, row.paused_at, row.paused_by)


def resume(name: str, user: AbstractBaseUser | AnonymousUser, *, via: str) -> bool:
    """Resume the receiver named ``name`` everywhere, as ``user``, recorded in the admin
    log; False if it was not paused."""
    from django.db import transaction

    model = _model()
    using = database()
    with transaction.atomic(using=using):
        row = model.objects.using(using).select_for_update().filter(receiver=name).first()
        if row is not None:
            _log(user, row, added=False, via=via)
            row.delete()
    refresh()
    return row is not None


def _log(user: Any, row: PausedReceiver, *, added: bool, via: str) -> None:
    from django.apps import apps

    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import ADDITION, DELETION, LogEntry

    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[row],
        action_flag=ADDITION if added else DELETION,
        change_message=f"{'Paused' if added else 'Resumed'} receiver {row.receiver} ({via}).",
        single_object=True,
    )


# The watcher -----------------------------------------------------------------------------


def _watch(stop: threading.Event) -> None:
    from django.apps import apps

    # Started from AppConfig.ready(): the first read waits for the app registry to finish,
    # so that no query runs during app initialisation.
    while not apps.ready:
        if stop.wait(0.05):
            return
    read_once = failing = False
    again: frozenset[str] = frozenset()
    while not stop.is_set():
        try:
            before = _names
            refresh()
            read_once, failing = True, False
            resumed = before - _names
            for names in (again, resumed):
                if names:
                    _tell_resumed(names)
            again = resumed
        except Exception as error:
            # Keep what was read last: a database that is away must not resume anything.
            # Before any read (a database not migrated yet, manage.py migrate itself) and
            # after the first failure in a row, quietly.
            level = logging.WARNING if read_once and not failing else logging.DEBUG
            logger.log(level, "django-blinker could not read the paused receivers: %s", error)
            failing = True
        finally:
            # A connection of this thread's own: never left open between two reads.
            connections.close_all()
        every = conf.settings.pause_refresh
        if every is None or stop.wait(every):
            return


def _tell_resumed(names: frozenset[str]) -> None:
    for listener in list(_resume_listeners):
        try:
            listener(names)
        except Exception:
            logger.exception("django-blinker: %r failed after a resume of %s", listener, names)


def start() -> None:
    """Start the thread that reads the pauses every ``PAUSE_REFRESH`` seconds (None: no
    thread; this process then knows only the pauses and resumes it made itself)."""
    if conf.settings.pause_refresh is not None:
        _watcher.start()


def stop() -> None:
    """Stop the thread :func:`start` started (it ends at its next wake-up)."""
    _watcher.stop()


def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()


_watcher = ProcessThread("django-blinker-pauses", _watch, in_child=_fresh_lock, restart=start)
