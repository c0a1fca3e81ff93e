"""Run the whole demo: ``python -m testproject.run_demo`` (what ``make demo`` does).

Migrates and seeds the SQLite demo, then runs three processes side by side: the web
server (``runserver``), a worker for background receivers (django-tasks-db's
``db_worker``, or Celery's with ``SHOP_BACKGROUND_BACKEND=celery``) and the relay that
hands outbox events to it (``blinker_relay``). Their output is interleaved, each line
prefixed with the process's name.

One Ctrl-C (SIGINT), SIGTERM or SIGHUP stops all of them: each runs in a process group
of its own, so the terminal's Ctrl-C reaches this script alone, which passes SIGINT on to
every group (runserver's and the worker's autoreloader children included) and kills what
is still running after ``STOP_TIMEOUT`` seconds, or at a second Ctrl-C. When one process
exits on its own, the others are stopped too and the exit status says which failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
STOP_TIMEOUT = 15.0
LOGIN = "Demo admin: http://{addr}/admin/  user: demo  password: demo"


def commands(addr: str) -> dict[str, list[str]]:
    """The processes of the demo by name: the web server, the worker and the relay (no
    worker when background receivers run in process, ``BACKGROUND_BACKEND="inline"``)."""
    from testproject.settings import DJANGO_BLINKER

    found = {
        "web": [*MANAGE, "runserver", addr],
        "relay": [*MANAGE, "blinker_relay", "--interval", "0.5"],
    }
    backend = DJANGO_BLINKER["BACKGROUND_BACKEND"]
    if backend == "celery":
        found["worker"] = [sys.executable, "-m", "celery", "-A", "testproject", "worker"]
    elif backend == "tasks":
        found["worker"] = [*MANAGE, "db_worker", "--interval", "0.5"]
    return found


class Supervisor:
    """Processes started together and stopped together."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self._output_lock = threading.Lock()

    def start(self, name: str, command: Sequence[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        assert process.stdout is not None
        reader = threading.Thread(target=self._relay_output, args=(name, process.stdout))
        reader.daemon = True
        reader.start()

    def say(self, line: str) -> None:
        with self._output_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def _relay_output(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(f"{name:<6} | {raw.decode(errors='replace').rstrip()}")

    def first_exit(self) -> tuple[str, int] | None:
        """The name and status of a process that has exited, if any has."""
        for name, process in self.processes.items():
            status = process.poll()
            if status is not None:
                return name, status
        return None

    def stop(self) -> None:
        """SIGINT to every process group, then SIGKILL to what outlives ``STOP_TIMEOUT``."""
        self.stopping.set()
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
        self.kill()
        for process in self.processes.values():
            process.wait()

    def kill(self) -> None:
        """SIGKILL to every process group (what a second Ctrl-C asks for); waits for none,
        so that a signal handler may call it."""
        for process in self.processes.values():
            # The group outlives its leader when a child (the autoreloader's) lingers.
            _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _wait_for_port(addr: str, supervisor: Supervisor) -> bool:
    host, _, port = addr.rpartition(":")
    while not supervisor.stopping.is_set() and supervisor.first_exit() is None:
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
                return True
        except OSError:
            supervisor.stopping.wait(0.2)
    return False


def _prepare(env: dict[str, str]) -> None:
    for step in (["migrate", "--verbosity", "0"], ["seed_demo"]):
        subprocess.run([*MANAGE, *step], cwd=ROOT, env=env, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--addr", default="127.0.0.1:8000", help="runserver's address (127.0.0.1:8000)"
    )
    args = parser.parse_args(argv)

    # The demo's settings, whatever another project exported in this shell.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "testproject.settings"}
    try:
        _prepare(env)
    except KeyboardInterrupt:
        return 130

    supervisor = Supervisor()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if supervisor.stopping.is_set() and len(received) > 1:
            supervisor.kill()
        supervisor.stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    for name, command in commands(args.addr).items():
        supervisor.start(name, command, env)

    if _wait_for_port(args.addr, supervisor):
        supervisor.say("")
        supervisor.say(LOGIN.format(addr=args.addr))
        supervisor.say("Ctrl-C stops the web server, the worker and the relay together.")
        supervisor.say("")
    while not supervisor.stopping.wait(0.5):
        if supervisor.first_exit() is not None:
            break
    exited = supervisor.first_exit()
    supervisor.stop()
    if received or exited is None:
        supervisor.say("Demo stopped.")
        return 0
    name, status = exited
    supervisor.say(f"Demo stopped: {name} exited with status {status}.")
    return status or 1


if __name__ == "__main__":
    sys.exit(main())
