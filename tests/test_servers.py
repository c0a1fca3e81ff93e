"""Background receivers of the request signals under real servers.

The test client sends request_started with its own handler as the sender and
request_finished with ``None``; a deployed project gets Django's handler classes instead:
WSGIHandler under gunicorn, ASGIHandler under uvicorn, and under runserver WSGIHandler
for views but StaticFilesHandler for static files, with the WSGI ``environ`` or the ASGI
``scope``. Each server runs ``tests.support.serverapp``, whose inline background receivers append
what they received, after the JSON round trip, to a file; every request sent (the
readiness request included) is counted.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

from tests.support.servers import Records, Server, server_env

pytestmark = pytest.mark.slow

REQUESTS = 5
STATIC_FILE = "/static/django_blinker/signals.css"
SECRET = f"secret-{uuid.uuid4().hex}"
SECRET_HEADERS = {
    "Cookie": f"sessionid={SECRET}; csrftoken={SECRET}",
    "Authorization": f"Bearer {SECRET}",
    "X-Django-Blinker-Secret": SECRET,
}


@dataclass(frozen=True)
class Kind:
    """What one server's Django sends: the handler it runs and the request's keyword."""

    handler: type
    request_kwarg: str
    method_key: str
    path_key: str
    static_handler: type | None = None
    paths: list[str] = field(default_factory=list)

    def sender(self, path: str) -> type:
        """The class Django sends as the sender of a request for ``path``."""
        if self.static_handler and path.startswith("/static/"):
            return self.static_handler
        return self.handler


KINDS = {
    "gunicorn": Kind(WSGIHandler, "environ", "REQUEST_METHOD", "PATH_INFO"),
    "runserver": Kind(
        WSGIHandler, "environ", "REQUEST_METHOD", "PATH_INFO", StaticFilesHandler, [STATIC_FILE]
    ),
    "uvicorn": Kind(ASGIHandler, "scope", "method", "path"),
}


@dataclass(frozen=True)
class Served:
    server: Server
    kind: Kind
    records: list[dict[str, Any]]

    def of(self, signal: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record["signal"] == signal]

    def explain(self) -> str:
        """The records and the server log, for assertion messages."""
        lines = [json.dumps(record) for record in self.records]
        return "\n".join(["records:", *lines, self.server.failure("ran").args[0]])


@pytest.fixture(scope="module", params=sorted(KINDS))
def served(request, tmp_path_factory):
    """A server that answered its requests and stopped, with every delivery it made."""
    kind = KINDS[request.param]
    directory = tmp_path_factory.mktemp(request.param)
    records_path = directory / "records.jsonl"
    env = server_env(
        DJANGO_BLINKER_SERVER_RECORDS=str(records_path),
        DJANGO_BLINKER_SERVER_DB=str(directory / "server.sqlite3"),
    )
    with Server(request.param, env, directory) as server:
        paths = [f"/served/{number}/" for number in range(REQUESTS)] + kind.paths
        for path in paths:
            status, body = server.get(path, headers=SECRET_HEADERS)
            assert status == 200, server.failure(f"answered {path} with {status}: {body!r}")
        records = Records(records_path, server)
        records.wait_for(2 * len(server.requested))
    # Stopped: whatever it would still deliver is in the file now.
    return Served(server, kind, records.read())


def test_every_request_delivers_request_started_and_request_finished_once(served):
    assert len(served.server.requested) == REQUESTS + 1 + len(served.kind.paths)
    counts = Counter(record["signal"] for record in served.records)
    expected = len(served.server.requested)
    assert counts == {"request_started": expected, "request_finished": expected}, served.explain()


def test_sender_is_a_subclass_of_the_servers_handler(served):
    for record in served.records:
        assert record["sender_is_class"], served.explain()
        sender = import_string(record["sender"])
        assert issubclass(sender, served.kind.handler), served.explain()


def test_sender_is_the_handler_class_django_sent(served):
    expected = Counter(
        f"{sender.__module__}.{sender.__qualname__}"
        for sender in map(served.kind.sender, served.server.requested)
    )
    for signal in ("request_started", "request_finished"):
        senders = Counter(record["sender"] for record in served.of(signal))
        assert senders == expected, f"{signal}\n{served.explain()}"


def test_request_started_carries_the_method_and_path_requested(served):
    started = served.of("request_started")
    assert started, served.explain()
    kind = served.kind
    assert all(set(record["kwargs"]) == {kind.request_kwarg} for record in started), (
        served.explain()
    )
    requests = [record["kwargs"][kind.request_kwarg] for record in started]
    delivered = sorted((request[kind.method_key], request[kind.path_key]) for request in requests)
    assert delivered == sorted(("GET", path) for path in served.server.requested), served.explain()


def test_request_started_leaves_headers_and_cookies_behind(served):
    started = served.of("request_started")
    assert started, served.explain()
    for record in started:
        request = record["kwargs"][served.kind.request_kwarg]
        assert SECRET not in json.dumps(request), served.explain()
        assert "headers" not in request, served.explain()
        assert not [key for key in request if key.startswith("HTTP_")], served.explain()


def test_request_finished_arrives_with_no_kwargs(served):
    finished = served.of("request_finished")
    assert finished, served.explain()
    assert all(record["kwargs"] == {} for record in finished), served.explain()


def test_receivers_run_inline_in_the_server_process(served):
    # gunicorn's worker is a child of the process started; the others serve in it.
    assert all(served.server.pid in (record["pid"], record["ppid"]) for record in served.records), (
        served.explain()
    )


# Inline receivers and model receivers under uvicorn --------------------------------------


def test_uvicorn_runs_a_request_receiver_and_model_receivers_of_sync_and_async_views(tmp_path):
    """Under ASGIHandler, request_started comes through Django's ``asend()`` and a model
    save through a sync view's transaction or an async view's ``acreate()``: a plain
    Blinker receiver, a coroutine receiver and an after-commit receiver each run once."""
    import subprocess
    import sys

    records_path = tmp_path / "records.jsonl"
    env = server_env(
        DJANGO_BLINKER_SERVER_RECORDS=str(records_path),
        DJANGO_BLINKER_SERVER_DB=str(tmp_path / "server.sqlite3"),
        DJANGO_BLINKER_SERVER_INLINE="1",
    )
    migrated = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr
    with Server("uvicorn", env, tmp_path) as server:
        for path in ("/authors/in-a-sync-view/", "/async-authors/in-an-async-view/"):
            status, body = server.get(path)
            assert status == 200, server.failure(f"answered {path} with {status}: {body!r}")
        # Per request: request_started inline and in the background, request_finished;
        # per save: the inline, the coroutine and the after-commit receiver.
        records = Records(records_path, server)
        records.wait_for(3 * len(server.requested) + 3 * 2)
    # Stopped: a receiver called twice would show now.
    found = records.read()
    by_signal = Counter(record["signal"] for record in found)
    assert by_signal == {
        "request_started": len(server.requested),
        "request_finished": len(server.requested),
        "inline request_started": len(server.requested),
        "inline post_save": 2,
        "coroutine post_save": 2,
        "after-commit post_save": 2,
    }, found
    started = [record for record in found if record["signal"] == "inline request_started"]
    assert {record["sender"] for record in started} == {"django.core.handlers.asgi.ASGIHandler"}
    assert {record["pid"] for record in found} == {server.process.pid}
    for signal in ("inline post_save", "coroutine post_save"):
        saved = [record for record in found if record["signal"] == signal]
        assert {record["sender"] for record in saved} == {"tests.support.testapp.models.Author"}
        assert sorted(record["kwargs"]["name"] for record in saved) == [
            "in-a-sync-view",
            "in-an-async-view",
        ]
        assert all(record["kwargs"]["created"] for record in saved)
    at_commit = [record for record in found if record["signal"] == "after-commit post_save"]
    assert sorted(record["kwargs"]["name"] for record in at_commit) == [
        "in-a-sync-view",
        "in-an-async-view",
    ]
    assert not any(record["kwargs"]["in_atomic"] for record in at_commit)
    assert "Traceback" not in server.log()
