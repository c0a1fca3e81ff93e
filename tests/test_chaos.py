"""Chaos: thousands of background events through real workers while processes die.

A sender subprocess saves rows (``tests.support.chaosapp.Row``, one unique marker each) in
transactions of random size, some rolled back, some with a savepoint rolled back; each
save is one event for each of two background receivers (``tests/support/chaosapp/receivers.py``):
``logged`` records every delivery, ``effect`` runs under ``once_per_event``. Meanwhile the
test SIGKILLs the sender right after one of its commits (a second sender carries on),
kills workers in the middle of a task, and (Celery) SIGKILLs one of the two outbox relays,
stops the broker for a few seconds and SIGKILLs a whole worker. The Celery run goes once on
a private Redis (stopped with SIGTERM) and once on a private RabbitMQ node (SIGKILLed).
Workers and relays run under a supervisor loop that restarts them, as in production. There
is no delivery setting: the outbox is on by default, each sender publishes its own events
right after its commit, and the relays publish what a sender could not (the broker outage)
and what no worker confirmed.

Then, whatever died: every committed row's event ran at least once; nothing ran for
rolled-back work; duplicates carry the same event id as the original; the once-per-event
receiver's row exists exactly once per event. ``pytest tests/test_chaos.py -s`` prints
the counts. ``DJANGO_BLINKER_CHAOS_SAVES`` / ``DJANGO_BLINKER_CHAOS_TASK_SAVES`` change
how many saves each test attempts; ``DJANGO_BLINKER_CHAOS_SEED`` replays the senders'
transactions of a run (printed with the counts and in failures).

On the Redis broker kombu takes a message with BRPOP, which removes it from the queue,
before it writes it to the ``unacked`` hash that would bring it back; a broker stop (or a
worker killed whole) in between drops it (``python -m tests.support.chaos.brpop_window`` shows it
with Celery alone). The outbox keeps each row until the worker that ran the receiver
deletes it and publishes again what nobody confirmed (``OUTBOX_CONFIRM_AFTER``, 10 s
here), so such a message is late, not lost. A failure names the missing row and the chaos
moment it fell nearest to.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_blinker.delivery.event import unseal
from django_blinker.models import DeliveredEvent, OutboxEvent
from tests.support.chaos.processes import (
    ROOT,
    RedisServer,
    Sender,
    Supervised,
    children,
    free_port,
    probes,
    tail,
)
from tests.support.chaosapp.models import Delivery, Effect, Row
from tests.support.rabbitmq import PrivateRabbitMQ, private_rabbitmq

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.postgres,
    pytest.mark.celery,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

CELERY_SAVES = int(os.environ.get("DJANGO_BLINKER_CHAOS_SAVES", "5000"))
# RabbitMQ: fewer, for CI's time; what it adds (the broker keeping taken messages) needs few.
RABBITMQ_SAVES = int(os.environ.get("DJANGO_BLINKER_CHAOS_RABBITMQ_SAVES", "3000"))
TASK_SAVES = int(os.environ.get("DJANGO_BLINKER_CHAOS_TASK_SAVES", "2000"))
# The drain fails when an event can no longer arrive (LOST_AFTER), when nothing was
# delivered for STALLED_AFTER seconds, or at DRAIN_TIMEOUT.
DRAIN_TIMEOUT = float(os.environ.get("DJANGO_BLINKER_CHAOS_DRAIN_TIMEOUT", "420"))
STALLED_AFTER = 60.0
# Longer than a Celery worker takes to bring back a message that a dead one had taken.
LOST_AFTER = 25.0
# SIGKILL a whole Celery worker too (main process and pool) in the middle of a task.
KILL_CELERY_WORKER = os.environ.get("DJANGO_BLINKER_CHAOS_KILL_CELERY_WORKER", "1") == "1"
SEED = int(os.environ.get("DJANGO_BLINKER_CHAOS_SEED") or random.randrange(1_000_000))
BROKER_OUTAGE = 5.0
# Stop the broker for BROKER_OUTAGE seconds mid-run.
STOP_BROKER = os.environ.get("DJANGO_BLINKER_CHAOS_STOP_BROKER", "1") == "1"
# Chaos moments at which kombu's Redis transport can drop a message it had popped.
BROKER_WINDOW = ("broker stopped", "whole worker killed")
RECORDS = (("logged", Delivery), ("effect", Effect))
# What a Celery worker logs for a pool child killed mid-task (not its traceback's lines).
WORKER_LOST = r"WorkerLostError\('Worker exited prematurely: signal 9"
QUEUE = "chaos"


RELAY = [sys.executable, "-m", "django", "blinker_relay", "--interval", "0.2"]


class Chaos:
    """The processes of one chaos run, their logs, and bounded waits that fail with them."""

    def __init__(self, directory: Path, backend: str, **env: str) -> None:
        self.directory = directory
        self.started = time.monotonic()
        self.ledger = directory / "ledger.txt"
        self.env = dict(os.environ)
        self.env.update(
            DJANGO_SETTINGS_MODULE="tests.support.chaos.settings",
            DJANGO_BLINKER_DB="postgres",
            DJANGO_BLINKER_WORKER_DB_NAME=str(connection.settings_dict["NAME"]),
            DJANGO_BLINKER_CHAOS=backend,
            DJANGO_BLINKER_CHAOS_DIR=str(directory),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
            **env,
        )
        self.services: dict[str, Supervised] = {}
        self.senders: list[Sender] = []
        self.broker: Broker | None = None
        self.killed: list[dict[str, Any]] = []
        self.timings: dict[str, float] = {}
        self.moments: list[tuple[str, float]] = []

    def stop(self) -> None:
        for sender in self.senders:
            sender.stop()
        for service in self.services.values():
            service.stop()
        if self.broker is not None:
            self.broker.stop()

    def mark(self, name: str) -> None:
        self.timings[name] = round(time.monotonic() - self.started, 1)
        self.moments.append((name, time.time()))

    def explain_missing(self) -> str:
        """Which receiver never ran for which committed rows, and when the other receiver's
        event of the same row (published next to it) ran, against the chaos timeline."""
        rows = set(Row.objects.values_list("marker", flat=True))
        lines = []
        for (receiver, model), (other, other_model) in (RECORDS, RECORDS[::-1]):
            for marker in sorted(rows - set(model.objects.values_list("marker", flat=True)))[:10]:
                line = f"{receiver} never ran for row {marker}"
                neighbour = other_model.objects.filter(marker=marker).order_by("at").first()
                if neighbour is not None and self.moments:
                    ran = neighbour.at.timestamp()
                    name, at = min(self.moments, key=lambda moment: abs(moment[1] - ran))
                    line += f"; its {other} event ran {ran - at:+.1f} s from '{name}'"
                    if name in BROKER_WINDOW and abs(ran - at) < 2:
                        line += " (kombu's BRPOP window: see this module's docstring)"
                lines.append(line)
        return "\n".join(lines) or "nothing missing"

    def supervise(self, name: str, argv: list[str]) -> Supervised:
        service = self.services[name] = Supervised(name, argv, self.env, self.directory)
        return service

    def send(self, start: int, total: int, kill_at: int | None = None) -> Sender:
        run = f"s{len(self.senders) + 1}"
        sender = Sender(run, start, total, self.ledger, self.env, self.directory, kill_at, SEED)
        self.senders.append(sender)
        return sender

    def logs(self) -> str:
        paths = [service.log_path for service in self.services.values()]
        paths += [sender.log_path for sender in self.senders]
        if self.broker is not None:
            paths += self.broker.log_paths()
        return "\n".join(tail(path, 25) for path in paths)

    def stuck(self) -> str:
        """What every service's threads are doing and what the database's sessions wait
        for: told with a drain that stopped, which logs alone do not explain."""
        starts = {name: service.ask_for_stacks() for name, service in self.services.items()}
        time.sleep(2)
        parts = []
        for name, start in starts.items():
            with self.services[name].log_path.open(errors="replace") as log:
                log.seek(start)
                parts.append(f"--- threads of {name}:\n{log.read()[-12_000:]}")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, "
                "left(query, 160) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            sessions = "\n".join(" | ".join(map(str, row)) for row in cursor.fetchall())
        parts.append(
            f"--- database sessions (pid, state, waits on, in transaction for, query):\n{sessions}"
        )
        return "\n".join(parts)

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s")
            time.sleep(0.1)

    def drain(self, pending: Callable[[], dict[str, int]]) -> None:
        """Wait until nothing is ``pending()``. Fail when rows are undelivered and nothing
        holds their events any more (every other count 0) for ``LOST_AFTER`` seconds, when
        no receiver recorded anything and the backlog got no smaller for ``STALLED_AFTER``
        seconds, or after
        ``DRAIN_TIMEOUT`` seconds in all."""
        started = time.monotonic()
        done, progressed, held = work_done(), started, started
        lowest = float("inf")
        while any((left := pending()).values()):
            now = time.monotonic()
            # Skipping late copies (their rows confirmed and deleted) records nothing, but
            # empties the queue: progress too.
            backlog = sum(count for name, count in left.items() if name != "undelivered")
            if work_done() != done or backlog < lowest:
                done, progressed, lowest = work_done(), now, min(lowest, backlog)
            if any(count for name, count in left.items() if name != "undelivered"):
                held = now
            elif now - held > LOST_AFTER:
                raise AssertionError(
                    f"{left['undelivered']} events lost: their rows committed, they never ran, "
                    f"and neither the outbox nor the queue holds them\n{self.explain_missing()}"
                )
            if now - progressed > STALLED_AFTER:
                raise AssertionError(
                    f"nothing delivered or skipped for {STALLED_AFTER:g} s; pending: {left}\n"
                    f"{self.explain_missing()}\n{self.stuck()}"
                )
            if now - started > DRAIN_TIMEOUT:
                raise AssertionError(
                    f"still delivering after {DRAIN_TIMEOUT:g} s (set "
                    f"DJANGO_BLINKER_CHAOS_DRAIN_TIMEOUT on a loaded machine); pending: {left}\n"
                    f"{self.stuck()}"
                )
            time.sleep(1)
        self.mark("drained")

    def kill_mid_task(
        self,
        receiver: str,
        pids: Callable[[], list[int]],
        kill: Callable[[int], None] = lambda pid: os.kill(pid, signal.SIGKILL),
        how: str = "process",
    ) -> dict[str, Any]:
        """Lay a stall ticket for ``receiver``, wait for the worker process that took it
        (one of ``pids()``) to report in, and ``kill`` it in the middle of that task."""
        path = self.directory / "probes.jsonl"
        for _attempt in range(3):
            seen = len(probes(path))
            (self.directory / f"stall-{receiver}").touch()
            probe = self.wait_until(
                lambda seen=seen: next(iter(probes(path)[seen:]), None),
                60,
                f"no worker took the {receiver} stall ticket",
            )
            if probe["pid"] in pids():
                kill(probe["pid"])
                self.killed.append({**probe, "how": how})
                return probe  # type: ignore[no-any-return]
        raise AssertionError(f"the {receiver} stall was never taken by a live worker process")


def ledger(path: Path) -> tuple[set[str], set[str]]:
    committed: set[str] = set()
    dropped: set[str] = set()
    for line in path.read_text().splitlines():
        outcome, marker = line.split()
        (committed if outcome == "C" else dropped).add(marker)
    return committed, dropped


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


def check_deliveries(chaos: Chaos) -> dict[str, Any]:
    """The assertions shared by both backends; returns the counts."""
    rows = set(Row.objects.values_list("marker", flat=True))
    said_committed, said_dropped = ledger(chaos.ledger)
    killed_runs = {sender.run for sender in chaos.senders if sender.killed_at is not None}
    assert said_committed <= rows, "rows the sender saw committed are missing"
    assert not rows & said_dropped, "rolled-back rows are in the table"
    in_flight = rows - said_committed
    assert {marker.split("-")[0] for marker in in_flight} <= killed_runs
    assert len(in_flight) <= 50

    deliveries = list(Delivery.objects.values_list("event", "marker", "pid"))
    effects = list(Effect.objects.values_list("event", "marker", "pid"))
    unconfirmed = OutboxEvent.objects.filter(confirmed_at__isnull=True)
    outbox_left = list(unconfirmed.values_list("id", "dead", "last_error")[:5])
    assert not outbox_left, f"unconfirmed outbox events after the drain: {outbox_left}"

    logs = "\n".join(service.log() for service in chaos.services.values())
    assert "deleted after the event committed" not in logs, "a rolled-back event was delivered"
    assert "Rejected background message" not in logs
    assert "dead-lettered after" not in logs

    for name, records in (("logged", deliveries), ("effect", effects)):
        markers_of: dict[Any, set[str]] = defaultdict(set)
        events_of: dict[str, set[Any]] = defaultdict(set)
        for event, marker, _pid in records:
            markers_of[event].add(marker)
            events_of[marker].add(event)
        assert set(events_of) - rows == set(), f"{name} ran for rows that never committed"
        missing = rows - set(events_of)
        assert not missing, f"{len(missing)} missing:\n{chaos.explain_missing()}"
        mixed = {event: markers for event, markers in markers_of.items() if len(markers) > 1}
        assert not mixed, f"{name}: one event id for several rows: {list(mixed.items())[:5]}"
        split = {marker: events for marker, events in events_of.items() if len(events) > 1}
        assert not split, f"{name}: one row under several event ids: {list(split.items())[:5]}"

    effect_counts = Counter(event for event, _marker, _pid in effects)
    doubled = {event: n for event, n in effect_counts.items() if n > 1}
    assert not doubled, f"once_per_event ran twice: {list(doubled.items())[:10]}"
    assert len(effects) == len(rows)
    assert DeliveredEvent.objects.filter(event__in=list(effect_counts)).count() == len(rows)

    delivery_counts = Counter(event for event, _marker, _pid in deliveries)
    for probe in chaos.killed:
        records = deliveries if probe["receiver"] == "logged" else effects
        survivors = [pid for event, _marker, pid in records if str(event) == probe["event"]]
        assert survivors, f"the event of the killed {probe} never ran again"
        assert probe["pid"] not in survivors, f"killed pid {probe['pid']} still recorded it"
        if probe["receiver"] == "effect":
            assert len(survivors) == 1

    return {
        "saves attempted": max(sender.attempted for sender in chaos.senders),
        "rows committed": len(rows),
        "rolled back (ledger)": len(said_dropped),
        "committed by the killed sender's last transaction": len(in_flight),
        "logged deliveries": len(deliveries),
        "logged duplicates": len(deliveries) - len(delivery_counts),
        "events delivered more than once": sum(1 for n in delivery_counts.values() if n > 1),
        "effect rows": len(effects),
        "once_per_event skips": count(r"already ran for it; skipped", logs),
        "killed mid-task (receiver, pid, what)": [
            (p["receiver"], p["pid"], p["how"]) for p in chaos.killed
        ],
        "their events run again by another process": len(chaos.killed),
    }


def work_done() -> int:
    """Rows the receivers wrote so far (grows with every delivery, duplicates included)."""
    return Delivery.objects.count() + Effect.objects.count()


def undelivered() -> int:
    """Committed rows that one of the two receivers has not recorded yet."""
    rows = Row.objects.count()
    return sum(
        rows - model.objects.values("marker").distinct().count() for model in (Delivery, Effect)
    )


def report(title: str, chaos: Chaos, counts: dict[str, Any]) -> None:
    restarts = {name: service.restarts for name, service in chaos.services.items()}
    print(f"\n== chaos: {title}, DJANGO_BLINKER_CHAOS_SEED={SEED}")
    for key, value in counts.items():
        print(f"   {key}: {value}")
    print(f"   supervisor restarts: {restarts}")
    print(f"   timeline (s): {chaos.timings}")
    print(f"   total: {time.monotonic() - chaos.started:.1f} s")


@contextlib.contextmanager
def chaos_run(tmp_path: Path, backend: str, **env: str) -> Iterator[Chaos]:
    """A chaos run whose processes all end when it does; a failure inside comes with the
    seed and the tail of every log."""
    chaos = Chaos(tmp_path, backend, **env)
    try:
        yield chaos
    except AssertionError as error:
        raise AssertionError(
            f"{error}\n(replay with DJANGO_BLINKER_CHAOS_SEED={SEED})\n{chaos.logs()}"
        ) from error
    finally:
        chaos.stop()


def send_with_a_killed_sender(chaos: Chaos, total: int, during: Callable[[Sender], None]) -> None:
    """The first sender is SIGKILLed right after a commit past a quarter of ``total``; a
    second one continues from its last report, and ``during`` runs while it sends."""
    first = chaos.send(0, total, kill_at=total // 4)
    code = first.wait(120)
    chaos.mark("sender 1 killed")
    assert code == -signal.SIGKILL and first.killed_at is not None, f"sender 1 exited {code}"
    second = chaos.send(first.attempted, total)
    during(second)
    assert second.wait(180) == 0
    assert second.finished
    chaos.mark("sender 2 finished")


class Broker:
    """The chaos run's own broker: stopped for an outage, asked for its backlog."""

    name: str
    url: str
    saves: int

    def outage(self, seconds: float) -> None:
        raise NotImplementedError

    def backlog(self, queue: str) -> dict[str, int]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def log_paths(self) -> list[Path]:
        return []


class RedisBroker(Broker):
    """A private redis-server; an outage is a SIGTERM (it writes out what it acknowledged)."""

    name = "Redis"
    saves = CELERY_SAVES

    def __init__(self, directory: Path) -> None:
        self.server = RedisServer(free_port(), directory / "redis")
        self.url = self.server.url

    def outage(self, seconds: float) -> None:
        self.server.terminate()
        time.sleep(seconds)
        self.server.start()

    def backlog(self, queue: str) -> dict[str, int]:
        queued, unacked = self.server.client().backlog(queue)
        return {"queued": queued, "unacked": unacked}

    def stop(self) -> None:
        self.server.stop()

    def log_paths(self) -> list[Path]:
        return [self.server.log_path]


class RabbitMQBroker(Broker):
    """A private RabbitMQ node; an outage is a SIGKILL of the whole node. What a worker had
    taken and not acknowledged the broker keeps itself, so only ready messages are counted."""

    name = "RabbitMQ"
    saves = RABBITMQ_SAVES

    def __init__(self, node: PrivateRabbitMQ) -> None:
        self.node = node
        self.url = node.url

    def outage(self, seconds: float) -> None:
        self.node.kill()
        time.sleep(seconds)
        self.node.start()

    def backlog(self, queue: str) -> dict[str, int]:
        return {"queued": self.node.queued(queue)}

    def stop(self) -> None:
        self.node.kill()

    def log_paths(self) -> list[Path]:
        return sorted(self.node.base.glob("server-*.out"))


@pytest.fixture(params=["redis", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request, tmp_path) -> Iterator[Broker]:
    if request.param == "redis":
        yield RedisBroker(tmp_path)
    else:
        with private_rabbitmq() as node:
            yield RabbitMQBroker(node)


def test_celery_delivers_every_committed_event_through_broker_sender_and_worker_deaths(
    tmp_path, broker
):
    total = broker.saves
    with chaos_run(
        tmp_path,
        "celery",
        DJANGO_BLINKER_CHAOS_BROKER=broker.url,
        DJANGO_BLINKER_CHAOS_STALL="5",
    ) as chaos:
        chaos.broker = broker
        worker = chaos.supervise(
            "celery-worker",
            [
                *(sys.executable, "-m", "celery", "-A", "tests.support.chaos.celery_app", "worker"),
                *("--pool=prefork", "-c", "2", "-Q", QUEUE, "-l", "WARNING"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
        )
        relay = chaos.supervise("relay", RELAY)
        other_relay = chaos.supervise("relay-2", RELAY)

        def during(second: Sender) -> None:
            chaos.wait_until(
                lambda: second.attempted >= total * 0.35 or second.finished,
                120,
                "sender 2 never got to 35%",
            )
            relay.kill()
            chaos.mark("relay killed")
            chaos.wait_until(
                lambda: second.attempted >= total * 0.45 or second.finished,
                120,
                "sender 2 never got to 45%",
            )
            if STOP_BROKER:
                chaos.mark("broker stopped")
                broker.outage(BROKER_OUTAGE)
                chaos.mark("broker back")
            pool = lambda: children(worker.pid)  # noqa: E731
            chaos.kill_mid_task("effect", pool, how="pool child")
            chaos.kill_mid_task("logged", pool, how="pool child")
            chaos.mark("pool children killed")
            if KILL_CELERY_WORKER:
                # Let the worker report its lost children before it dies itself.
                chaos.wait_until(
                    lambda: count(WORKER_LOST, worker.log()) >= 2,
                    60,
                    "the worker never reported its killed pool children",
                )
                chaos.kill_mid_task("effect", pool, lambda _pid: worker.kill(), how="whole worker")
                chaos.mark("whole worker killed")

        def retries(log: str) -> int:
            return sum(int(n) for n in re.findall(r"(\d+) to retry", log))

        send_with_a_killed_sender(chaos, total, during)

        def pending() -> dict[str, int]:
            return {
                "outbox": OutboxEvent.objects.filter(confirmed_at__isnull=True).count(),
                **broker.backlog(QUEUE),
                "undelivered": undelivered(),
            }

        chaos.drain(pending)
        chaos.stop()

        counts = check_deliveries(chaos)
        worker_log, relay_log = worker.log(), relay.log() + other_relay.log()
        sender_log = "\n".join(sender.log_path.read_text() for sender in chaos.senders)
        left_to_relays = count(r"could not be published on celery", sender_log)
        lost = count(WORKER_LOST, worker_log)
        assert lost >= 2, "the killed pool children left no WorkerLostError"
        for probe in chaos.killed:
            if probe["how"] == "pool child":
                assert f"pid:{probe['pid']} exited with 'signal 9 (SIGKILL)'" in worker_log
        if KILL_CELERY_WORKER:
            assert any(code == -signal.SIGKILL for _pid, code in worker.exits), worker.exits
        broker_lost = count(r"Connection to broker lost", worker_log)
        if STOP_BROKER:
            assert left_to_relays or retries(relay_log), "nothing failed during the outage"
            assert broker_lost or worker.restarts, "the worker never noticed the broker outage"
        assert relay.exits and relay.exits[0][1] == -signal.SIGKILL
        counts.update(
            {
                "sender publishes left to the relays": left_to_relays,
                "relay publishes to retry": retries(relay_log),
                "published again, unconfirmed": sum(
                    int(n) for n in re.findall(r"(\d+) again: no worker confirmed", relay_log)
                ),
                "copies of confirmed events skipped": count(r"this copy of it skipped", worker_log),
                "WorkerLostError": lost,
                "worker saw the broker lost": broker_lost,
                "worker exits": worker.exits,
                "relay exits": relay.exits,
            }
        )
        report(f"Celery (prefork -c 2, {broker.name} broker, defaults, two relays)", chaos, counts)


def test_tasks_delivers_every_committed_event_through_sender_and_db_worker_deaths(tmp_path):
    from django_tasks_db.models import DBTaskResult

    from django_blinker.backends.django_tasks import TASK_PATHS

    with chaos_run(
        tmp_path,
        "tasks",
        DJANGO_BLINKER_CHAOS_STALL="4",
        DJANGO_BLINKER_CHAOS_STALE_AFTER="6",
    ) as chaos:
        db_worker = [sys.executable, "-m", "django", "db_worker", "--backend", "db"]
        db_worker += ["--interval", "0.05", "--no-startup-delay", "--no-reload", "-v", "0"]
        workers = [chaos.supervise(f"db-worker-{n}", db_worker) for n in (1, 2)]
        relay = chaos.supervise("relay", RELAY)
        other_relay = chaos.supervise("relay-2", RELAY)

        def during(second: Sender) -> None:
            pids = lambda: [worker.pid for worker in workers]  # noqa: E731
            chaos.kill_mid_task("effect", pids, how="db_worker")
            chaos.kill_mid_task("logged", pids, how="db_worker")
            chaos.mark("db_workers killed")

        send_with_a_killed_sender(chaos, TASK_SAVES, during)
        tasks = DBTaskResult.objects.filter(task_path__in=TASK_PATHS)

        def pending() -> dict[str, int]:
            return {
                "READY": tasks.filter(status="READY").count(),
                "RUNNING": tasks.filter(status="RUNNING").count(),
                "undelivered": undelivered(),
            }

        chaos.drain(pending)
        chaos.stop()

        counts = check_deliveries(chaos)
        failed = list(tasks.filter(status="FAILED").values_list("traceback", flat=True)[:3])
        assert not failed, f"failed deliveries: {failed}"
        by_event = {unseal(r.args_kwargs["args"][0])["event"]: r for r in tasks}
        relay_log = relay.log() + other_relay.log()
        for probe in chaos.killed:
            result = by_event[probe["event"]]
            assert result.status == "SUCCESSFUL"
            assert len(result.worker_ids) >= 2, f"{result.id} ran once: {result.worker_ids}"
            assert str(result.id) in relay_log, f"no recovery of {result.id} in the relay log"
        recovered = count(r"were RUNNING for over", relay_log)
        assert recovered, "the relay never recovered a stale delivery"
        counts.update(
            {
                "task rows": tasks.count(),
                "tasks claimed more than once": sum(
                    1 for r in tasks.only("worker_ids") if len(r.worker_ids) > 1
                ),
                "stale recoveries logged": recovered,
                "db_worker exits": [w.exits for w in workers],
            }
        )
        report("Django Tasks (django-tasks-db, two db_workers)", chaos, counts)
