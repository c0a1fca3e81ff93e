"""Real HTTP servers run as subprocesses: gunicorn and runserver for WSGI, uvicorn for ASGI.

Tests that must see what Django sends under a deployed server, rather than under the test
client, start one with :class:`Server`; every wait is bounded and every failure message
carries the end of the server's log.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def gunicorn(port: int) -> list[str]:
    """One sync worker serving ``tests.support.serverapp.wsgi`` (WSGIHandler)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "tests.support.serverapp.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--graceful-timeout",
        "10",
        "--access-logfile",
        "-",
        # Its default control socket would be left behind in the home directory.
        "--no-control-socket",
    ]


def uvicorn(port: int) -> list[str]:
    """One process serving ``tests.support.serverapp.asgi`` (ASGIHandler), which has no lifespan."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.support.serverapp.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--timeout-graceful-shutdown",
        "10",
    ]


def runserver(port: int) -> list[str]:
    """Django's development server, which serves static files through StaticFilesHandler
    (``--insecure``: with ``DEBUG = False`` it would not) and Django through WSGIHandler."""
    return [
        sys.executable,
        "-m",
        "django",
        "runserver",
        f"127.0.0.1:{port}",
        "--noreload",
        "--insecure",
    ]


COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "gunicorn": gunicorn,
    "runserver": runserver,
    "uvicorn": uvicorn,
}


def end(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM ``process``, SIGKILL it if it is still there after ``timeout``, and reap it."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(settings: str = "tests.support.server_settings", **extra: str) -> dict[str, str]:
    """The environment of a server: ``settings`` as ``DJANGO_SETTINGS_MODULE``, the
    repository on ``PYTHONPATH``, unbuffered output, then ``extra``."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Server:
    """One server subprocess on a free 127.0.0.1 port, started by ``start()`` (or ``with``).

    ``get()`` sends a request and keeps its path in ``requested``, so that a test knows
    every request that reached Django, the readiness request included. ``stop()`` ends
    exactly this process: SIGTERM, which lets the server finish the requests in flight,
    then SIGKILL after a deadline.
    """

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.argv = COMMANDS[name](self.port)
        self.log_path = log_dir / f"{name}.log"
        self.requested: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def start(self, timeout: float = 30.0, ready_path: str = "/served/ready/") -> None:
        """Start the process and wait until it answers ``ready_path`` with 200."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_until_ready(ready_path, time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, path: str, deadline: float) -> None:
        while True:
            if not self.alive():
                raise self.failure(f"exited with {self.process and self.process.returncode}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.failure("did not answer in time")
            try:
                status, _ = self.get(path, timeout=remaining)
            except ConnectionRefusedError:
                # Nothing listens yet, so the request never reached Django.
                self.requested.pop()
                time.sleep(0.05)
                continue
            except (OSError, http.client.HTTPException) as error:
                self._wait_for_exit(min(5.0, max(deadline - time.monotonic(), 0.1)))
                raise self.failure(f"failed its first request ({error!r})") from None
            if status != 200:
                raise self.failure(f"answered {path} with {status}")
            return

    def get(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = 10.0
    ) -> tuple[int, bytes]:
        """``GET path``: the status and body. ``path`` joins ``requested`` first."""
        self.requested.append(path)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _wait_for_exit(self, timeout: float) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            end(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def failure(self, what: str) -> AssertionError:
        """An ``AssertionError`` saying ``what`` happened, with the end of the log."""
        return AssertionError(
            f"{self.name} ({' '.join(self.argv[2:])}) {what}; its log ends:\n{self.tail()}"
        )


class Records:
    """JSON lines that a server's receivers append to ``path``, read with deadlines."""

    def __init__(self, path: Path, server: Server) -> None:
        self.path = path
        self.server = server

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        text = self.path.read_text()
        # A line still being written has no newline yet.
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """At least ``count`` records; fails after ``timeout`` seconds with the server log."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.read()
            if len(found) >= count:
                return found
            if not self.server.alive() or time.monotonic() >= deadline:
                signals = [record["signal"] for record in found]
                raise self.server.failure(
                    f"delivered {len(found)} of {count} records within {timeout}s {signals}"
                )
            time.sleep(0.05)
