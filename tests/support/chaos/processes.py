"""The processes of the chaos test: supervised services, the sender, a private redis-server.

Every process starts in a session of its own, so that ending it ends its children too
(Celery's pool children), and the test kills only process groups it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (from /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group that ``process`` leads. Only while the leader is alive or
    was reaped a moment ago: until then the group id cannot belong to anyone else."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _end(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM ``process``, SIGKILL its group if it is still there after ``timeout``, and
    reap it; what is left of its group (orphaned children) is killed as it is reaped."""
    if process.returncode is not None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.wait()
    _kill_group(process)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return f"--- tail of {path}:\n" + "\n".join(text.splitlines()[-lines:])


class Supervised:
    """A service kept running as a supervisor would: when it exits, whatever is left of its
    process group is killed and a new one starts, until :meth:`stop`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.exits: list[tuple[int, int]] = []
        self._log = self.log_path.open("a")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.process = self._spawn()
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{name}", daemon=True)
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._log.write(f"=== supervisor: starting {self.name}\n")
        self._log.flush()
        process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            with self._lock:
                if self._stopping.is_set() or (code := self.process.poll()) is None:
                    continue
                self.exits.append((self.process.pid, code))
                self._log.write(f"=== supervisor: pid {self.process.pid} exited with {code}\n")
                _kill_group(self.process)
                self.process = self._spawn()

    def kill(self) -> None:
        """SIGKILL the whole current process group (the supervisor starts a new one)."""
        with self._lock:
            if self.process.poll() is None:
                _kill_group(self.process)

    @property
    def restarts(self) -> int:
        return len(self.exits)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ask_for_stacks(self) -> int:
        """Ask each process of the current one's tree in turn for its threads' stacks
        (SIGUSR2, which the chaos settings hand to ``faulthandler``); returns where they
        start in the log."""
        with self._lock:
            start = self.log_path.stat().st_size
            pids, tree = [self.process.pid], []
            while pids:
                pid = pids.pop(0)
                tree.append(pid)
                pids += children(pid)
            for pid in tree:
                self._log.write(f"=== supervisor: stacks of pid {pid}\n")
                self._log.flush()
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGUSR2)
                time.sleep(0.5)
        return start

    def stop(self, timeout: float = 15.0) -> None:
        """No more restarts; SIGTERM, then SIGKILL for its process group after ``timeout``."""
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            _end(self.process, timeout)
            self._log.close()


class Sender:
    """One sender process; its ``done`` lines are read on a thread. With ``kill_at`` set it
    is SIGKILLed as soon as it reports a commit at or past that many attempted saves."""

    def __init__(
        self,
        run: str,
        start: int,
        total: int,
        ledger: Path,
        env: dict[str, str],
        log_dir: Path,
        kill_at: int | None = None,
        seed: int = 0,
    ) -> None:
        self.run = run
        self.attempted = start
        self.kill_at = kill_at
        self.killed_at: int | None = None
        self.finished = False
        self.log_path = log_dir / f"sender-{run}.log"
        self._log = self.log_path.open("w")
        argv = ["-m", "tests.support.chaos.sender", "--run", run, "--start", str(start)]
        argv += ["--total", str(total), "--ledger", str(ledger), "--seed", str(seed)]
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, name=f"sender-{run}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            words = line.split()
            if words[:1] == ["finished"]:
                self.finished = True
            elif words[:1] == ["done"]:
                self.attempted = int(words[1])
                committed = int(words[2])
                if self.kill_at is not None and self.attempted >= self.kill_at and committed:
                    self.process.send_signal(signal.SIGKILL)
                    self.killed_at = self.attempted
                    self.kill_at = None

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"sender {self.run} still running after {timeout}s at {self.attempted} "
                f"attempted saves\n{tail(self.log_path)}"
            ) from None
        self._thread.join(timeout=5)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            _kill_group(self.process)
            self.process.wait()
        self._log.close()


class RedisServer:
    """A private redis-server with an append-only file: stopped with SIGTERM it writes out
    everything it acknowledged and reloads it on start (a broker that forgets messages it
    accepted loses events whatever the sender does)."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
        argv += ["--dir", str(self.directory), "--logfile", str(self.log_path)]
        self.process = subprocess.Popen(argv, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.client().ping_ok():
                return
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"redis-server on {self.port} not up in 20s\n{tail(self.log_path)}")

    def terminate(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _kill_group(self.process)
            self.process.wait()

    def client(self) -> _Redis:
        return _Redis(self.port)


class _Redis:
    def __init__(self, port: int) -> None:
        import redis

        self.redis = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1)

    def ping_ok(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:
            return False

    def backlog(self, queue: str) -> tuple[int, int]:
        """Messages waiting in ``queue`` and messages taken but not yet acknowledged."""
        return int(self.redis.llen(queue)), int(self.redis.hlen("unacked"))


def probes(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
