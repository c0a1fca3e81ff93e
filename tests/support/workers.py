"""Worker subprocesses for the Celery and Django Tasks tests, and bounded waits on them."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import connection, connections

from tests.support.servers import end

ROOT = Path(__file__).resolve().parents[2]
TEST_REDIS = "redis://127.0.0.1:6379/13"


class Worker:
    """One worker subprocess started by the test run; ``stop()`` ends exactly that process."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self._log_start = 0
        #: A Celery worker's node name, and whether it takes messages from its queue.
        self.node = ""
        self.consuming: bool | None = None
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        """What the worker wrote since it started, or since :meth:`new_use`."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def new_use(self) -> None:
        """Start :meth:`log` here: a shared worker's next user sees only its own lines."""
        self._log_start = self.log_path.stat().st_size

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            end(self.process)
        self._log.close()

    def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            if not self.alive():
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{text!r} not in the {self.name} log within {timeout}s:\n{self.tail()}"
        )


SHARED_VENDORS = {"postgresql": "postgres", "mysql": "mariadb"}


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker: the database server and the test databases ("default"
    and "other") that this run created, Redis for the receivers' records, the repository
    on ``PYTHONPATH``. ``extra`` overrides any of them."""
    database = extra.get("DJANGO_BLINKER_DB") or SHARED_VENDORS.get(connection.vendor)
    if database is None:
        raise RuntimeError(
            f"a worker process cannot share this run's {connection.vendor} test database; "
            f"run worker tests with DJANGO_BLINKER_DB={' or '.join(SHARED_VENDORS.values())}"
        )
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.support.worker_settings",
        DJANGO_BLINKER_DB=database,
        DJANGO_BLINKER_WORKER_DB_NAME=str(connection.settings_dict["NAME"]),
        DJANGO_BLINKER_WORKER_OTHER_DB_NAME=str(connections["other"].settings_dict["NAME"]),
        DJANGO_BLINKER_TEST_REDIS=TEST_REDIS,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def python() -> str:
    return sys.executable


def new_key(prefix: str) -> str:
    return f"django_blinker:test:{prefix}:{uuid.uuid4().hex[:12]}"


class Events:
    """What worker receivers pushed to a Redis list, read with deadlines."""

    def __init__(
        self,
        key: str,
        worker: Worker,
        idle: Callable[[], bool] | None = None,
        purge: Callable[[], object] | None = None,
    ) -> None:
        import redis

        self.key = key
        self.worker = worker
        self.redis = redis.Redis.from_url(TEST_REDIS)
        self._idle = idle
        self._purge = purge

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until the worker has finished its own bookkeeping of every job it took.

        A receiver's record reaches Redis before the worker marks its job done; a test that
        ends on that record would flush the job's row under the worker, which then fails to
        mark it and exits."""
        if self._idle is None:
            return
        deadline = time.monotonic() + timeout
        while not self._idle():
            if time.monotonic() > deadline or not self.worker.alive():
                raise AssertionError(
                    f"{self.worker.name} still busy after {timeout}s:\n{self.worker.tail()}"
                )
            time.sleep(0.05)

    def clear(self) -> None:
        """Forget what receivers recorded, and drop what waits in the worker's queue: messages
        of earlier tests name rows their flush deleted, and a backlog left by a failed test
        would use up the next tests' waits."""
        self.redis.delete(self.key)
        if self._purge is not None:
            self._purge()

    def take(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The next ``count`` records; fails after ``timeout`` seconds with the worker log."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.worker.alive():
                raise AssertionError(
                    f"{len(found)} of {count} events from {self.worker.name} within "
                    f"{timeout}s:\n{self.worker.tail()}"
                )
            item = self.redis.blpop([self.key], timeout=min(remaining, 1.0))
            if item is not None:
                found.append(json.loads(item[1]))
        return found

    def until(self, receiver: str, timeout: float = 30.0, **facts: Any) -> list[dict[str, Any]]:
        """Every record up to and including the first of ``receiver`` with ``facts``."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            [record] = self.take(1, timeout=max(deadline - time.monotonic(), 0.001))
            found.append(record)
            if record["receiver"] == receiver and all(record.get(k) == v for k, v in facts.items()):
                return found


def _start_celery_worker(name: str, env: dict[str, str], log_dir: Path) -> Worker:
    """A solo Celery worker of ``tests.support.celery_app``, ready."""
    # A node name of its own: RabbitMQ lets one connection at a time hold a node's pidbox
    # queue, and a second worker of the same name (another run on this host) exits at start.
    argv = [python(), "-m", "celery", "-A", "tests.support.celery_app", "worker"]
    node = f"{name}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    argv += ["-n", node]
    argv += ["--pool=solo", "-c", "1", "--without-gossip", "--without-mingle", "-l", "INFO"]
    worker = Worker("celery-worker", argv, env, log_dir)
    worker.node = node
    worker.wait_for_log("ready.", timeout=60)
    worker.consuming = True
    return worker


def _start_db_worker(name: str, env: dict[str, str], log_dir: Path) -> Worker:
    """django-tasks-db's ``db_worker`` on the "db" backend, started."""
    argv = [python(), "-m", "django", "db_worker", "--backend", "db", "--interval", "0.05"]
    argv += ["--no-startup-delay", "--no-reload", "-v", "2"]
    worker = Worker("db-worker", argv, env, log_dir)
    worker.wait_for_log("Starting worker", timeout=60)
    return worker


def db_worker_idle() -> bool:
    """No job of the worker's queue is due or running."""
    from django_tasks_db.models import DBTaskResult

    jobs = DBTaskResult.objects.filter(backend_name="db", queue_name="default")
    return not (jobs.ready().exists() or jobs.running().exists())


EVENTS_KEY = "DJANGO_BLINKER_TEST_EVENTS_KEY"


class WorkerPool:
    """The test session's worker subprocesses on its test databases.

    One Celery worker serves, in turn, every module that needs the session's environment
    (``tests.support.worker_settings``, its queue and Redis key): it is started at the first
    such module, consumes the queue only while a module uses it (other tests publish to
    that queue and expect nobody to take their messages), and is stopped when the session
    ends, before its test databases go. A module whose environment differs (an ``extra``
    setting, or a variable it set) gets a worker of its own, beside the idle shared one, as
    does each user of ``db_worker``: django-tasks-db's worker cannot be told to stop taking jobs."""

    def __init__(self, django_db_blocker: Any, tmp_path_factory: Any) -> None:
        self._blocker = django_db_blocker
        self._tmp = tmp_path_factory
        os.environ.setdefault("DJANGO_BLINKER_CELERY_QUEUE", new_key("queue"))
        from tests.support.celery_app import app

        with django_db_blocker.unblock():
            self._session_env = worker_env(DJANGO_BLINKER_CELERY_QUEUE=app.conf.task_default_queue)
        self._shared: Worker | None = None

    def _env(self, name: str, **extra: str) -> dict[str, str]:
        with self._blocker.unblock():
            return worker_env(**extra, **{EVENTS_KEY: new_key(name)})

    @contextlib.contextmanager
    def celery(self, name: str, **extra: str) -> Iterator[Events]:
        """A solo Celery worker of ``tests.support.celery_app``, with the tests' app made
        current while it runs; ``extra`` adds to its environment."""
        from celery import _state

        from tests.support.celery_app import app

        queue = app.conf.task_default_queue
        env = self._env(name, DJANGO_BLINKER_CELERY_QUEUE=queue, **extra)
        shared = _same(env, self._session_env)
        if shared and self._shared is not None and self._shared.alive():
            worker = self._shared
            worker.new_use()
        else:
            # The shared worker, between its users, takes nothing from the queue.
            worker = _start_celery_worker(name, env, self._tmp.mktemp(name))
            if shared:
                self.close()
                self._shared = worker
        events = Events(worker.env[EVENTS_KEY], worker, purge=app.control.purge)
        # What other tests published meanwhile is dropped before the worker takes the queue.
        events.clear()
        if worker.consuming is False:
            _tell(app.control.add_consumer, worker, queue)
        previous = _state.get_current_app()
        app.set_current()
        try:
            yield events
        finally:
            previous.set_current()
            if worker is self._shared and worker.alive():
                _tell(app.control.cancel_consumer, worker, queue)
            elif worker is not self._shared:
                worker.stop()

    @contextlib.contextmanager
    def db_worker(self, name: str) -> Iterator[Events]:
        """django-tasks-db's ``db_worker`` on the "db" backend, for this use only."""
        worker = _start_db_worker(name, self._env(name), self._tmp.mktemp(name))
        events = Events(worker.env[EVENTS_KEY], worker, idle=db_worker_idle)
        try:
            yield events
        finally:
            worker.stop()

    def close(self) -> None:
        """Stop the shared worker."""
        if self._shared is not None:
            self._shared.stop()
            self._shared = None


def _tell(command: Callable[..., Any], worker: Worker, queue: str) -> None:
    """Run a remote-control ``command`` (``add_consumer``, ``cancel_consumer``) on ``worker``
    alone and wait for its answer."""
    replies = command(queue, destination=[worker.node], reply=True, timeout=20)
    assert replies and all("ok" in reply for r in replies for reply in r.values()), (
        f"{command.__name__}({queue!r}) got {replies!r} from {worker.node}:\n{worker.tail()}"
    )
    worker.consuming = command.__name__ == "add_consumer"


def _same(env: dict[str, str], shared: dict[str, str]) -> bool:
    """Whether a worker started with ``env`` runs as one started with ``shared``: the same
    variables but the events key and pytest's own (``PYTEST_CURRENT_TEST``)."""

    def kept(variables: dict[str, str]) -> dict[str, str]:
        return {
            k: v for k, v in variables.items() if k != EVENTS_KEY and not k.startswith("PYTEST_")
        }

    return kept(env) == kept(shared)
