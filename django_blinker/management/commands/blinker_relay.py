"""``manage.py blinker_relay``: publish the outbox until told to stop."""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import signal
import threading
import time
from argparse import ArgumentParser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.conf import settings as django_settings
from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.utils import timezone

from ... import conf
from ...backends import django_tasks
from ...background import outbox, pruning

logger = logging.getLogger("django_blinker")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Command(BaseCommand):
    help = (
        "Publish due outbox events (DJANGO_BLINKER['OUTBOX']) to their backend, batch by "
        "batch, and set stale django-tasks-db deliveries back to READY, until SIGTERM or "
        "SIGINT (the current batch is finished first). --once makes one pass; "
        "--prune-delivered DAYS deletes old once_per_event records instead."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Publish what is due now, then exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            metavar="SECONDS",
            help="Seconds to wait when nothing was due (default 1.0); on PostgreSQL a "
            "committed event ends the wait at once (LISTEN/NOTIFY).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=outbox.BATCH_SIZE,
            metavar="N",
            help=f"Events claimed and published per batch (default {outbox.BATCH_SIZE}).",
        )
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            metavar="ALIAS",
            help="Only this database; repeat for several (default: every database with an "
            "outbox table).",
        )
        parser.add_argument(
            "--prune-delivered",
            type=float,
            metavar="DAYS",
            help="Delete once_per_event records older than DAYS days, then exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        if options["prune_delivered"] is not None:
            days = _positive("--prune-delivered", options["prune_delivered"], "number of days")
            self._prune(datetime.timedelta(days=days), options["databases"])
            return
        interval = _positive("--interval", options["interval"], "number of seconds")
        batch_size = options["batch_size"]
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise CommandError(
                f"--batch-size must be a positive whole number of events, got {batch_size!r}"
            )
        relay = _Relay(
            self._databases(options["databases"], outbox.outbox_databases(), "outbox table"),
            batch_size,
            self._report,
        )
        if not conf.settings.outbox and self.verbosity:
            self.stderr.write(
                self.style.WARNING(
                    f"{conf.SETTING_NAME}['OUTBOX'] is off: events are not written to the "
                    "outbox; relaying only what is already there."
                )
            )
        with _stop_on_signals() as stop:
            relay.stop = stop
            if options["once"]:
                relay.run_pass(always_report=True)
                return
            if self.verbosity:
                woken = relay.wakeup.aliases
                at_commit = f", at once on a commit to {', '.join(woken)} (LISTEN)" if woken else ""
                self.stdout.write(
                    f"Relaying the outbox of {', '.join(relay.databases)} (batches of "
                    f"{batch_size}, every {interval:g} s when idle{at_commit}); SIGTERM or "
                    "SIGINT stops it."
                )
            try:
                relay.run_forever(interval)
            finally:
                relay.wakeup.close()
        if self.verbosity:
            self.stdout.write("Stopped.")

    def _databases(self, chosen: list[str] | None, holding: list[str], what: str) -> list[str]:
        if not chosen:
            return holding
        for alias in chosen:
            if alias not in django_settings.DATABASES:
                raise CommandError(
                    f"--database {alias!r} is not a database alias; expected one of "
                    f"{', '.join(map(repr, django_settings.DATABASES))}"
                )
            if alias not in holding:
                raise CommandError(
                    f"--database {alias!r} has no {what} (the database routers keep it "
                    f"elsewhere); expected one of {', '.join(map(repr, holding)) or 'none'}"
                )
        return list(dict.fromkeys(chosen))

    def _prune(self, older_than: datetime.timedelta, chosen: list[str] | None) -> None:
        for alias in self._databases(
            chosen, pruning.delivered_databases(), "table of delivered events"
        ):
            deleted = pruning.prune_delivered(older_than, using=alias)
            if self.verbosity:
                self.stdout.write(
                    f"{alias}: deleted {deleted} delivered-event record"
                    f"{'s' if deleted != 1 else ''} older than {_days(older_than)}."
                )

    def _report(self, results: dict[str, outbox.RelayResult], recovered: int, always: bool) -> None:
        busy = always or recovered or any(result.claimed for result in results.values())
        if self.verbosity < 2 and not (self.verbosity == 1 and busy):
            return
        for alias, result in results.items():
            notes = [f"{result.republished} unconfirmed, again"] if result.republished else []
            if result.ahead:
                notes.append(f"{result.ahead} ahead of their next try")
            again = f" ({'; '.join(notes)})" if notes else ""
            self.stdout.write(
                f"{alias}: {result.published} published{again}, {result.failed} to retry, "
                f"{result.dead} dead-lettered"
            )
        if recovered:
            self.stdout.write(f"{recovered} stale django-tasks-db deliveries set back to READY")


class _Relay:
    """Passes over the outbox databases, one batch per database in turn, so that a busy
    database does not starve the others; ``stop`` ends the work after the current batch."""

    def __init__(
        self,
        databases: list[str],
        batch_size: int,
        report: Callable[[dict[str, outbox.RelayResult], int, bool], None],
    ) -> None:
        self.databases = databases
        self.batch_size = batch_size
        self.report = report
        self.stop = threading.Event()
        self.wakeup = _Wakeup(databases)

    def run_pass(self, *, always_report: bool = False) -> None:
        """Relay until no database has a full batch due, then recover stale tasks."""
        close_old_connections()
        for alias in self.databases:
            outbox.record_relay(alias)
        results = outbox.relay_pass(self.databases, self.batch_size, self.stop)
        recovered = 0 if self.stop.is_set() else django_tasks.recover_stale_tasks()
        self.report(results, recovered, always_report)

    def run_forever(self, interval: float) -> None:
        """Passes until ``stop`` is set, waiting ``interval`` seconds between them; a lost
        database connection is logged and tried again after a wait that doubles, up to a
        minute."""
        wait = interval
        while not self.stop.is_set():
            try:
                self.run_pass()
            except (OperationalError, InterfaceError):
                logger.exception("Outbox relay: database error; trying again in %g s", wait)
                close_old_connections()
                self.stop.wait(wait)
                wait = min(wait * 2, max(interval, 60.0))
                continue
            wait = interval
            self.wakeup.wait(self._until_due(interval), self.stop)

    def _until_due(self, interval: float) -> float:
        """``interval``, or less when an event not yet published falls due sooner (a failed
        publish to try again, an event its sender meant to publish itself)."""
        now = timezone.now()
        soonest = min(
            (due for alias in self.databases if (due := outbox.soonest_due(alias, now))),
            default=None,
        )
        if soonest is None:
            return interval
        return min(interval, max((soonest - now).total_seconds(), 0.0))


class _Wakeup:
    """Waits for the next pass: on PostgreSQL (psycopg 3) by ``LISTEN`` on
    :data:`~django_blinker.outbox.NOTIFY_CHANNEL`, on a connection of its own in
    autocommit, so that a committed insert into the outbox (its trigger sends ``NOTIFY``,
    delivered at commit) ends the wait at once; elsewhere, or while that connection
    cannot be made, by the interval alone."""

    #: Longest a wait blocks before it looks at ``stop`` again.
    SLICE = 0.25

    def __init__(self, databases: list[str]) -> None:
        self.aliases = [alias for alias in databases if _listens(alias)]
        self.listening: dict[str, Any] = {}

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Until ``timeout`` seconds passed, ``stop`` is set or an outbox insert committed."""
        listening = self._connect()
        if not listening:
            stop.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            share = min(left, self.SLICE) / len(listening)
            for alias, connection in list(listening.items()):
                try:
                    if any(True for _ in connection.notifies(timeout=share, stop_after=1)):
                        # Later notifications of the same commits: this pass covers them.
                        for _ in connection.notifies(timeout=0.001):
                            pass
                        return
                except Exception as error:
                    logger.warning(
                        "Outbox relay: LISTEN connection to %r lost (%s); polling every "
                        "interval until it is back",
                        alias,
                        error,
                    )
                    self._close(alias)
                    return

    def _connect(self) -> dict[str, Any]:
        for alias in self.aliases:
            if alias in self.listening:
                continue
            wrapper = connections[alias]
            try:
                connection = wrapper.get_new_connection(wrapper.get_connection_params())
                connection.autocommit = True
                connection.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
            except Exception as error:
                logger.warning(
                    "Outbox relay: cannot LISTEN on %r (%s); polling every interval",
                    alias,
                    error,
                )
                continue
            self.listening[alias] = connection
        return self.listening

    def _close(self, alias: str) -> None:
        connection = self.listening.pop(alias, None)
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        """Close the listening connections."""
        for alias in list(self.listening):
            self._close(alias)


def _listens(alias: str) -> bool:
    if connections[alias].vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by the first SIGTERM or SIGINT; the handlers that were there before
    come back at once, so a second signal stops the process the usual way."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {number: signal.getsignal(number) or signal.SIG_DFL for number in _STOP_SIGNALS}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def handle(number: int, frame: FrameType | None) -> None:
        logger.warning(
            "Outbox relay: %s received; stopping after the current batch (send it again "
            "to stop at once)",
            signal.Signals(number).name,
        )
        stop.set()
        restore()

    for number in _STOP_SIGNALS:
        signal.signal(number, handle)
    try:
        yield stop
    finally:
        restore()


def _positive(option: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise CommandError(f"{option} must be a positive {what}, got {value!r}")
    return float(value)


def _days(delta: datetime.timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} day{'s' if days != 1 else ''}"
