"""Activity of every process of a site, through Django's cache framework.

With ``DJANGO_BLINKER["ACTIVITY_STORE"]`` naming a cache alias, each process keeps its
own figures (:mod:`django_blinker.observation.activity`) and a daemon thread writes them to the
cache
every ``ACTIVITY_FLUSH_INTERVAL`` seconds, and once more at exit: never a cache round
trip on a send.

Each process writes one key of its own, holding its totals since it started (a
snapshot, not increments), and lists itself in an index key; readers merge the
snapshots. No two processes write the same counters, so there is no race and a flush
that is retried or lost double-counts nothing: a flush that fails (the cache is down)
is logged once per outage and the next one carries everything. What a process recorded
after its last successful flush is lost only if it dies before the cache is back.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext, ngettext

from .. import conf
from ..delivery import worker
from ..process_thread import ProcessThread
from . import activity
from .figures import SignalTotals, when
from .records import well_formed

logger = logging.getLogger("django_blinker")

INDEX_KEY = "django_blinker:activity:processes"
LOCK_KEY = "django_blinker:activity:lock"
PROCESS_KEY = "django_blinker:activity:process:{}"
RETENTION = 7 * 24 * 3600
"""Seconds a process's figures stay in the cache after its last flush."""
EXIT_FLUSH_TIMEOUT = 5.0
REGISTER_FOR = 1.0
"""Seconds a flush keeps trying to take the index lock when other processes hold it."""
MAX_PROCESSES = 10_000
"""The most processes a read takes from the index (the latest listed): a forged or
runaway index costs a bounded read, and the page says what it left out."""
STALE_AFTER_FLUSHES = 3
STALE_AFTER_AT_LEAST = 30.0
"""A process not seen for this many of its flush intervals (and at least this many
seconds), and not known to have exited, may have died with figures it had not flushed."""


def store_alias() -> str | None:
    """The cache alias of the store, or None when the store is off."""
    return conf.settings.activity_store or None


def flush_interval() -> float:
    return conf.settings.activity_flush_interval


def role() -> str:
    """``ACTIVITY_ROLE`` if set, else ``"worker"`` once this process ran a background
    event for a queue (Celery, Django Tasks), else ``"web"``."""
    chosen = conf.settings.activity_role
    if chosen:
        return chosen
    return "worker" if worker.in_worker() else "web"


# This process -------------------------------------------------------------------------


class _Process:
    def __init__(self) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started = time.time()
        self.id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.failing: str | None = None
        """The alias of the store that the last write failed on, until one succeeds."""
        self.failed_flushes = 0


_me = _Process()
_lock = threading.Lock()


def _record(exited: bool = False) -> dict[str, Any]:
    return {
        "id": _me.id,
        "host": _me.host,
        "pid": _me.pid,
        "role": role(),
        "started": _me.started,
        "last_seen": time.time(),
        "exited": exited,
        "failed_flushes": _me.failed_flushes,
        "interval": flush_interval(),
        "signals": activity.snapshot(),
    }


def flush(exited: bool = False) -> bool:
    """Write this process's figures to the store now; False if the store is off or down.

    A store that is down is logged once (WARNING) until a flush succeeds; an invalid
    setting raises ``ImproperlyConfigured``, as every read of it does.
    """
    alias = store_alias()
    if alias is None:
        return False
    with _lock:
        record = _record(exited)
        try:
            cache = caches[alias]
            # The record first: a registration that has to wait loses nothing written.
            cache.set(PROCESS_KEY.format(_me.id), record, timeout=RETENTION)
            # The last flush has no next one to retry at: it may wait as long as the exit does.
            _register(cache, patience=EXIT_FLUSH_TIMEOUT if exited else REGISTER_FOR)
        except _IndexBusy as busy:
            if exited:
                logger.warning(
                    "Activity store %r: this process's figures were written but are not "
                    "shown: %s before it exited",
                    alias,
                    busy,
                )
            else:
                logger.debug("Activity store %r: %s", alias, busy)
            return False
        except Exception as error:
            _me.failed_flushes += 1
            if _me.failing != alias:
                _me.failing = alias
                logger.warning(
                    "Activity store %r is unreachable (%s: %s); this process's figures are "
                    "kept and written once it is back, figures shown meanwhile are incomplete",
                    alias,
                    type(error).__name__,
                    error,
                )
            return False
        if _me.failing:
            _me.failing = None
            logger.info("Activity store %r is reachable again", alias)
        return True


class _IndexBusy(Exception):
    """Another process holds the index lock: the store works, this flush waits its turn."""


def _register(cache: BaseCache, patience: float) -> None:
    deadline = time.monotonic() + patience
    while True:
        index = _read_index(cache)
        if index is not None and _me.id in index:
            return
        # Registration is a read-modify-write of the shared index: one writer at a time.
        if cache.add(LOCK_KEY, _me.id, timeout=10):
            break
        if time.monotonic() > deadline:
            raise _IndexBusy(f"other processes held the index lock for {patience:g} s")
        time.sleep(random.uniform(0.002, 0.02))
    try:
        # A forged or damaged index is rewritten from the members whose records are sound.
        index = _read_index(cache) or []
        found = _read_many(cache, [PROCESS_KEY.format(member) for member in index])
        now = time.time()
        index = [member for member in index if _sound(member, found, now)]
        cache.set(INDEX_KEY, [*index, _me.id], timeout=None)
    finally:
        cache.delete(LOCK_KEY)


_UNREADABLE = object()
"""What :func:`_read_many` gives for a value the cache cannot decode (another program's
bytes, a garbage pickle): such a key is malformed, the cache is not down."""


def _read_many(cache: BaseCache, keys: list[str]) -> dict[str, Any]:
    """``keys``' values, one round trip while every value decodes.

    A value that does not decode makes the whole ``get_many`` fail; then the cache is asked
    whether it answers at all (raising if not), and the keys are read one by one, those that
    still fail mapping to ``_UNREADABLE``.
    """
    if not keys:
        return {}
    try:
        return cache.get_many(keys)
    except Exception:
        cache.has_key(LOCK_KEY)  # no value decoded: raises only if the cache is down
    found: dict[str, Any] = {}
    missing = object()
    for key in keys:
        try:
            value = cache.get(key, missing)
        except Exception:
            value = _UNREADABLE
        if value is not missing:
            found[key] = value
    return found


def _read_index(cache: BaseCache) -> list[str] | None:
    """The processes the index lists, once each, or None when it is not what
    django-blinker writes (raises when the cache is down)."""
    value = _read_many(cache, [INDEX_KEY]).get(INDEX_KEY, [])
    if not isinstance(value, list):
        return None
    return list(dict.fromkeys(m for m in value if isinstance(m, str) and len(m) <= 300))


def _sound(member: str, found: dict[str, Any], now: float) -> bool:
    """Whether ``member``'s record is one django-blinker wrote under its own key (a record
    copied under another key would be counted twice)."""
    record = found.get(PROCESS_KEY.format(member), _UNREADABLE)
    return well_formed(record, now) and record["id"] == member


def _run(stop: threading.Event) -> None:
    try:
        # At once: a process that lives less than an interval is listed (and its connection
        # made) long before its last flush, which has a bounded time at exit.
        flush()
        while not stop.wait(flush_interval()):
            flush()
        if _exiting.is_set():
            flush(exited=True)
    except ImproperlyConfigured as error:
        # The setting changed under a running process (override_settings): stop for good
        # rather than retry what cannot succeed; the figures stay readable in this process.
        logger.error("django-blinker's activity store stopped: %s", error)


def start() -> None:
    """Start the flush thread if the store is on and it is not running; idempotent.

    ``ImproperlyConfigured`` if the activity settings are invalid: nothing is started.
    """
    if store_alias() is None or _flusher.alive:
        return
    # Refused here rather than in the thread.
    flush_interval()
    role()
    _flusher.start()


def stop() -> None:
    """Stop the flush thread (no final flush)."""
    _flusher.stop(timeout=EXIT_FLUSH_TIMEOUT)


def _new_process() -> None:
    # The child must not report its figures as its parent's.
    global _me, _lock
    _me = _Process()
    _lock = threading.Lock()


def _restart_in_child() -> None:
    activity.reset()
    try:
        start()
    except ImproperlyConfigured as error:
        logger.error("django-blinker's activity store is not started: %s", error)


_exiting = threading.Event()
"""Set at interpreter exit: the flush thread's last flush marks this process exited."""

_flusher = ProcessThread(
    "django-blinker-activity-flush", _run, in_child=_new_process, restart=_restart_in_child
)


def _at_exit() -> None:
    thread = _flusher.thread
    if thread is None or not thread.is_alive():
        return
    # The flush thread makes the last flush itself: a thread started now may never run
    # (Python 3.12 starts none once the interpreter shuts down), and the wait is bounded,
    # so that a hung cache cannot hold up the exit.
    _exiting.set()
    _flusher.stop(timeout=EXIT_FLUSH_TIMEOUT)
    if thread.is_alive():
        logger.warning(
            "django-blinker's activity store missed this process's last flush: the cache "
            "did not answer within %s s; what it recorded since its previous flush is lost",
            EXIT_FLUSH_TIMEOUT,
        )


atexit.register(_at_exit)


# Reading ---------------------------------------------------------------------------------


@dataclass
class ProcessActivity:
    """One process as its last flush left it (this process: as it is now)."""

    id: str
    host: str
    pid: int
    role: str
    started: datetime | None
    last_seen: datetime | None
    exited: bool
    stale: bool
    current: bool
    signals: dict[str, Any]

    def totals(self, signal: str) -> SignalTotals:
        totals = SignalTotals()
        totals.add(self.signals.get(signal) or {})
        return totals


@dataclass
class SiteActivity:
    """Every process's figures, merged on read; ``problems`` say why they may be incomplete."""

    processes: list[ProcessActivity]
    problems: list[str]

    @property
    def complete(self) -> bool:
        return not self.problems

    def signal(self, name: str) -> SignalTotals:
        """``name``'s figures added up over every process."""
        totals = SignalTotals()
        for process in self.processes:
            totals.add(process.signals.get(name) or {})
        return totals

    def breakdown(self, name: str) -> list[tuple[ProcessActivity, SignalTotals]]:
        """``name``'s figures per process, for the processes that recorded any."""
        return [
            (process, process.totals(name)) for process in self.processes if name in process.signals
        ]


def site_activity() -> SiteActivity | None:
    """Every process's figures from the store (None when it is off). This process's own
    come from memory, so they are current; the others' are as of their last flush."""
    alias = store_alias()
    if alias is None:
        return None
    problems: list[str] = []
    members: list[str] = []
    found: dict[str, Any] = {}
    try:
        cache = caches[alias]
        index = _read_index(cache)
        if index is None:
            problems.append(
                f"the index of processes in the activity store (cache {alias!r}) is not what "
                "django-blinker writes: only this process's figures are shown until a "
                "process's flush rewrites it"
            )
            index = []
        if len(index) > MAX_PROCESSES:
            problems.append(
                f"the activity store lists {len(index)} processes: only the latest "
                f"{MAX_PROCESSES} are read"
            )
        members = sorted(index[-MAX_PROCESSES:])
        found = _read_many(cache, [PROCESS_KEY.format(member) for member in members])
    except Exception as error:
        problems.append(
            gettext(
                "the activity store (cache %(alias)r) is unreachable (%(error)s): "
                "only this process's figures are shown"
            )
            % {"alias": alias, "error": type(error).__name__}
        )
    if _me.failing == alias:
        problems.append(
            ngettext(
                "this process could not write to the store %(count)d time lately",
                "this process could not write to the store %(count)d times lately",
                _me.failed_flushes,
            )
            % {"count": _me.failed_flushes}
        )
    now = time.time()
    processes = [_process(_record(), now, current=True)]
    malformed = 0
    for member in members:
        key = PROCESS_KEY.format(member)
        if key not in found or member == _me.id:
            continue
        if not _sound(member, found, now):
            malformed += 1
            continue
        record = found[key]
        process = _process(record, now, current=False)
        processes.append(process)
        if process.stale:
            problems.append(
                gettext(
                    "process %(pid)s on %(host)s (%(role)s) was last seen %(seconds).0f s ago: "
                    "what it recorded since may be missing"
                )
                % {
                    "pid": process.pid,
                    "host": process.host,
                    "role": process.role,
                    "seconds": now - record["last_seen"],
                }
            )
    if malformed:
        problems.append(
            ngettext(
                "%(count)d record in the store is not what django-blinker writes and was left out",
                "%(count)d records in the store are not what django-blinker writes and were "
                "left out",
                malformed,
            )
            % {"count": malformed}
        )
    return SiteActivity(processes=processes, problems=problems)


def _process(record: dict[str, Any], now: float, current: bool) -> ProcessActivity:
    last_seen = float(record.get("last_seen", 0.0))
    interval = float(record.get("interval", 0.0))
    stale_after = max(interval * STALE_AFTER_FLUSHES, STALE_AFTER_AT_LEAST)
    exited = bool(record.get("exited"))
    return ProcessActivity(
        id=str(record.get("id")),
        host=str(record.get("host")),
        pid=int(record.get("pid", 0)),
        role=str(record.get("role")),
        started=when(float(record.get("started", 0.0))),
        last_seen=when(last_seen),
        exited=exited,
        stale=not current and not exited and now - last_seen > stale_after,
        current=current,
        signals=dict(record.get("signals") or {}),
    )
