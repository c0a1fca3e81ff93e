"""A RabbitMQ node of one test alone, killed and restarted without touching the shared one."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.servers import free_port


class PrivateRabbitMQ:
    """A RabbitMQ node of this test alone; ``kill()`` and ``start()`` keep its data."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        for name in ("mnesia", "log"):
            (base / name).mkdir()
        (base / "enabled_plugins").write_text("[].\n")
        if os.getuid() == 0:
            # rabbitmq-server run by root drops to the rabbitmq user, who must own the data.
            user = pwd.getpwnam("rabbitmq")
            for path in [base, *base.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": f"django_blinker_test_{os.getpid()}_{self.port}@localhost",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(base / "feature_flags"),
            "RABBITMQ_PID_FILE": str(base / "node.pid"),
            "RABBITMQ_CONFIG_FILE": str(base / "no-config"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "no-advanced.config"),
            "ERL_CRASH_DUMP": str(base / "erl_crash.dump"),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.base / f"server-{self.starts}.out").open("wb")
        self.process = subprocess.Popen(
            ["rabbitmq-server"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            if self._listening():
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"private RabbitMQ did not start:\n{self.output()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL this node's processes: those started here, and the Erlang VM that
        rabbitmq-server starts as the rabbitmq user in a session of its own, found by the
        node name in their environment (no other node has it)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in self._node_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
        deadline = time.monotonic() + 30
        while self._listening():
            assert time.monotonic() < deadline, "the private RabbitMQ still listens"
            time.sleep(0.1)

    def _node_pids(self) -> list[int]:
        mark = f"RABBITMQ_NODENAME={self.env['RABBITMQ_NODENAME']}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def output(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-3000:] for path in self.base.glob("server-*.out")
        )

    def queued(self, queue: str) -> int:
        """Messages ready in ``queue`` (0 while the node is down or the queue is missing)."""
        from kombu import Connection

        with contextlib.suppress(Exception), Connection(self.url, connect_timeout=2) as conn:
            declared = conn.default_channel.queue_declare(queue, passive=True)
            return int(declared.message_count)
        return 0


@contextlib.contextmanager
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    """A started node, killed and its data removed at the end."""
    # Not under pytest's base temp: the rabbitmq user must reach it through its parents.
    node = PrivateRabbitMQ(Path(tempfile.mkdtemp(prefix="django_blinker_rabbitmq_")))
    node.start()
    try:
        yield node
    finally:
        node.kill()
        shutil.rmtree(node.base, ignore_errors=True)
