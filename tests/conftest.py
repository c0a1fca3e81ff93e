"""Service markers and the CI rule that nothing may be skipped.

A test marked ``serverdb``, ``postgres``, ``redis``, ``celery``, ``rabbitmq``, ``browser``,
``graphviz`` or ``fork`` needs that service. ``serverdb`` is any database server that other
processes can share with the test run (PostgreSQL or MariaDB: worker subprocesses,
concurrent connections); ``postgres`` is kept for what only PostgreSQL has. When a service
is missing, the test is skipped on a laptop, and fails when ``CI=true``: CI starts every
service, so a missing one there is a broken pipeline, not a reason to run fewer tests; a
tox environment deselects what its database cannot run (``-m "not postgres"``). No test
skips itself: each names its service with a marker.
With ``CI=true`` a run that skipped anything at all fails, listing what it skipped.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import time

import pytest
from hypothesis import settings

# Fixtures shared by test folders: pytest loads plugins named here for the whole run.
pytest_plugins = ["tests.support.namespaces"]

IN_CI = os.environ.get("CI", "").lower() == "true"

REDIS_ADDRESS = ("127.0.0.1", 6379)

# A loaded 2-core CI machine makes Hypothesis' per-example deadline a source of flakes.
settings.register_profile("ci", deadline=None, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


SERVER_DATABASES = ("postgres", "mariadb")


def database_under_test() -> str:
    """The ``DJANGO_BLINKER_DB`` choice of this run (tests/support/settings.py): sqlite, postgres
    or mariadb."""
    return os.environ.get("DJANGO_BLINKER_DB") or "sqlite"


def _serverdb_missing() -> str | None:
    if database_under_test() in SERVER_DATABASES:
        return None
    return (
        f"needs a database server, not {database_under_test()}: run with "
        "DJANGO_BLINKER_DB=postgres or mariadb (make test-postgres, make test-mariadb)"
    )


def _postgres_missing() -> str | None:
    if database_under_test() == "postgres":
        return None
    return (
        f"tests a PostgreSQL-only feature, not {database_under_test()}: run with "
        "DJANGO_BLINKER_DB=postgres (make test-postgres)"
    )


@functools.cache
def _redis_missing() -> str | None:
    try:
        with socket.create_connection(REDIS_ADDRESS, timeout=0.5):
            return None
    except OSError as exc:
        return f"needs Redis at {REDIS_ADDRESS[0]}:{REDIS_ADDRESS[1]} ({exc})"


RABBITMQ_ADDRESS = ("127.0.0.1", 5672)


@functools.cache
def _rabbitmq_missing() -> str | None:
    try:
        with socket.create_connection(RABBITMQ_ADDRESS, timeout=0.5):
            pass
    except OSError as exc:
        return f"needs RabbitMQ at {RABBITMQ_ADDRESS[0]}:{RABBITMQ_ADDRESS[1]} ({exc})"
    if not shutil.which("rabbitmq-server"):
        return "needs rabbitmq-server on PATH for a private broker (apt install rabbitmq-server)"
    return None


@functools.cache
def _celery_missing() -> str | None:
    """Redis, where the receivers record what they saw, and RabbitMQ too when the Celery
    tests run on it (``DJANGO_BLINKER_CELERY_BROKER=amqp://...``)."""
    broker = os.environ.get("DJANGO_BLINKER_CELERY_BROKER", "")
    if broker.startswith(("amqp://", "pyamqp://")) and (missing := _rabbitmq_missing()):
        return missing
    return _redis_missing()


@functools.cache
def _browser_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "needs Playwright (pip install playwright)"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "needs a Chromium executable on PATH (apt-get install chromium)"
    return None


@functools.cache
def _graphviz_missing() -> str | None:
    if shutil.which("dot"):
        return None
    return "needs Graphviz's dot on PATH (apt-get install graphviz)"


def _fork_missing() -> str | None:
    return None if hasattr(os, "fork") else "needs os.fork (a POSIX system)"


SERVICES = {
    "serverdb": _serverdb_missing,
    "postgres": _postgres_missing,
    "redis": _redis_missing,
    "celery": _celery_missing,
    "rabbitmq": _rabbitmq_missing,
    "browser": _browser_missing,
    "graphviz": _graphviz_missing,
    "fork": _fork_missing,
}


# What gives a test the database: pytest-django refuses any other test a query.
DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "live_server",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
    }
)
DATABASE_MARKERS = ("django_db", "serverdb", "postgres")


def reaches_database(item: pytest.Item) -> bool:
    """Whether ``item`` can run a query: a ``django_db`` or database-server marker, a
    fixture that opens the test database, or a Django ``TestCase`` (or
    ``TransactionTestCase``) method."""
    from django.test import TransactionTestCase

    if any(item.get_closest_marker(name) for name in DATABASE_MARKERS):
        return True
    cls = getattr(item, "cls", None)
    if isinstance(cls, type) and issubclass(cls, TransactionTestCase):
        return True
    return bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="deselect the tests that cannot reach the database: the database-server tox "
        "environments run those once per Python and Django in their SQLite environment",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-tests-only"):
        return
    blind = [item for item in items if not reaches_database(item)]
    if blind:
        config.hook.pytest_deselected(items=blind)
        items[:] = [item for item in items if reaches_database(item)]


def require_service(name: str) -> None:
    """Skip the running test if service *name* is missing; fail instead when CI=true."""
    reason = SERVICES[name]()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and a {name!r} test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers():
        if marker.name in SERVICES:
            require_service(marker.name)


@pytest.fixture(scope="session", autouse=True)
def _flush_postgres_by_delete():
    """tests/support/postgres_flush.py: a transactional test on PostgreSQL ends in ``DELETE``s."""
    if database_under_test() != "postgres":
        yield
        return
    from tests.support.postgres_flush import flush_by_delete

    with flush_by_delete():
        yield


@pytest.fixture(autouse=True)
def _relay_marks_forgotten():
    """Each test starts with an empty outbox, and may set its clock back: no relay mark
    this process kept for an earlier test holds (``relay_rows.forget_marks``), nor a
    broker failure an earlier test made (``outages.forget``)."""
    from django_blinker.background import outages, relay_rows

    relay_rows.forget_marks()
    outages.forget()


#: How long the outbox's batching threads keep an idle connection in the tests (1 s by
#: default): the session waits it out before the test databases are dropped.
BATCHED_WRITES_IDLE = 0.05


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's test databases; before they are dropped, what this process's outbox
    batches wait for is written and their threads' connections are closed (PostgreSQL
    refuses to drop a database that a connection still uses)."""
    from django_blinker.background.outbox import publish_records
    from django_blinker.delivery import batched_writes
    from django_blinker.delivery.outbox_rows import confirmations

    for writes in (publish_records, confirmations):
        writes.idle = BATCHED_WRITES_IDLE
    yield
    batched_writes.flush_all()
    time.sleep(10 * BATCHED_WRITES_IDLE)


@pytest.fixture(scope="session")
def worker_pool(django_db_setup, django_db_blocker, tmp_path_factory):
    """tests/support/workers.py: the session's workers, stopped before its test databases go."""
    from tests.support.workers import WorkerPool

    pool = WorkerPool(django_db_blocker, tmp_path_factory)
    try:
        yield pool
    finally:
        pool.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Under ``CI=true`` a test that did not run is a failed test, whatever skipped it: a
    service marker fails at setup already; this catches any other skip (a plugin, Django's
    ``skipUnlessDBFeature``) and an expected failure."""
    report: pytest.TestReport = yield
    if IN_CI and report.skipped:
        reason = getattr(report, "wasxfail", "") or (
            report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        )
        report.outcome = "failed"
        report.longrepr = f"CI=true: this test did not run ({reason}); a skip fails under CI"
        _not_run.append(f"{report.nodeid}: {reason}")
    return report


_not_run: list[str] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    if not _not_run:
        return
    terminalreporter.section("CI=true: skipped tests fail the run", red=True, bold=True)
    for line in _not_run:
        terminalreporter.line(f"NOT RUN {line}", red=True)
    terminalreporter.line(
        f"{len(_not_run)} test(s) did not run under CI=true; start the missing service "
        "or deselect the tests explicitly (-m 'not ...').",
        red=True,
    )
