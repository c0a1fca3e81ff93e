"""Kombu's Redis transport loses messages that a worker had popped when it or Redis dies.

No django-blinker here: a private redis-server (append-only file, fsync on every write),
``acks_late`` + ``reject_on_worker_lost`` tasks that append their number to a file, and a
prefork worker (``-c 2``). The worker takes a message with ``BRPOP``, which removes it
from the queue, and only then writes it to the ``unacked`` hash that brings it back after
the visibility timeout; dying in between loses it for good (celery/celery#7950,
celery/kombu#305). Two ways to get there:

- ``kill-worker``: 6,000 tasks queued, the worker SIGKILLed with its pool 40 times and
  restarted each time. Runs here lost 1 to 4 of 6,000.
- ``restart-broker``: tasks published continuously (only those Redis acknowledged count),
  Redis stopped with SIGTERM 20 times and started again. Runs here lost 4 to 7 of ~3,000;
  under MONITOR each lost one was LPUSHed and never HSET into ``unacked``.

``python -m tests.support.chaos.brpop_window kill-worker|restart-broker [times]``.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from celery import Celery

QUEUE = "brpop_window"

app = Celery("brpop_window", broker=os.environ.get("BRPOP_WINDOW_BROKER", "redis://"))
app.conf.update(
    broker_transport_options={"visibility_timeout": 5},
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)


@app.task(name="brpop_window.record", acks_late=True, reject_on_worker_lost=True)
def record(number: int) -> None:
    time.sleep(0.005)
    with open(os.environ["BRPOP_WINDOW_DONE"], "a") as done:
        done.write(f"{number}\n")


class Redis:
    def __init__(self, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        import redis

        argv = ["redis-server", "--port", str(self.port), "--save", "", "--dir"]
        argv += [str(self.directory), "--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
        for _ in range(200):
            try:
                redis.Redis.from_url(self.url).ping()
                return self.process
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart(self) -> None:
        self.process.terminate()
        self.process.wait()
        time.sleep(1)
        self.start()


def main() -> None:
    import redis

    mode = sys.argv[1] if len(sys.argv) > 1 else "kill-worker"
    times = int(sys.argv[2]) if len(sys.argv) > 2 else (40 if mode == "kill-worker" else 20)
    directory = Path(tempfile.mkdtemp())
    broker = Redis(directory)
    done_path = directory / "done.txt"
    env = {**os.environ, "BRPOP_WINDOW_BROKER": broker.url, "BRPOP_WINDOW_DONE": str(done_path)}
    argv = [sys.executable, "-m", "celery", "-A", "tests.support.chaos.brpop_window", "worker"]
    argv += ["--pool=prefork", "-c", "2", "-l", "WARNING", "--without-gossip"]
    argv += ["--without-mingle", "--without-heartbeat"]
    log = (directory / "worker.log").open("a")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    publisher = Celery("publisher", broker=broker.url)
    published: set[int] = set()
    stopping = threading.Event()

    def publish(count: int | None) -> None:
        number = 0
        while not stopping.is_set() and (count is None or number < count):
            try:
                publisher.send_task("brpop_window.record", (number,), queue=QUEUE, retry=False)
                published.add(number)
            except Exception:
                pass
            number += 1
            if count is None:
                time.sleep(0.004)

    worker = None
    try:
        if mode == "kill-worker":
            publish(6000)
        else:
            threading.Thread(target=publish, args=(None,), daemon=True).start()
        worker = start()
        for _ in range(times):
            time.sleep(random.uniform(0.8, 1.6) if mode == "kill-worker" else 2.0)
            if mode == "kill-worker":
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            else:
                broker.restart()
            if worker.poll() is not None:
                worker = start()
        stopping.set()
        client = redis.Redis.from_url(broker.url)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                worker = start()
            ran = set(map(int, done_path.read_text().split())) if done_path.exists() else set()
            if not client.llen(QUEUE) + client.hlen("unacked") and published <= ran:
                break
            time.sleep(1)
        lost = sorted(published - ran)
        print(
            f"{mode} x{times}: {len(published)} published, {len(published & ran)} ran, "
            f"{client.llen(QUEUE)} queued, {client.hlen('unacked')} unacked, lost {lost}"
        )
    finally:
        stopping.set()
        if worker is not None:
            os.killpg(worker.pid, signal.SIGKILL)
        os.killpg(broker.process.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
