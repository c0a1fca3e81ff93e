"""``make demo`` for real: the supervisor, its three processes, the seeded activity, one SIGINT.

The demo runs as ``make demo`` runs it (``python -m testproject.run_demo``), in a temporary
directory (``SHOP_DEMO_DIR``) so the worktree stays untouched, on a free port.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 180.0
"""Seconds the demo may take to come up and show its figures on a loaded machine."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _processes_marked(marker: str) -> set[int]:
    """Live processes whose environment carries ``marker``: the demo and all it started."""
    needle = f"DEMO_TEST_MARKER={marker}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


class Browser:
    """A cookie-keeping HTTP client, logged in through the admin's login form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.status, response.read().decode()

    def log_in(self, username: str, password: str) -> str:
        self.get("/admin/login/")
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        form = {
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": password,
            "next": "/admin/",
        }
        request = urllib.request.Request(
            self.base + "/admin/login/?next=/admin/",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": self.base + "/admin/login/"},
        )
        with self.opener.open(request, timeout=30) as response:
            return str(response.url)


def _figure(html: str, name: str) -> int | None:
    """The first figure in the row of the receiver (or worker run) called ``name``."""
    text = html.replace("<wbr>", "")
    found = re.search(
        re.escape(name) + r'</code>.*?<td class="db-num">(\d+)</td>', text, flags=re.DOTALL
    )
    return int(found.group(1)) if found else None


def _wait_for(what: str, condition, output: list[str]):
    """Poll ``condition`` until it returns something true, or fail after ``DEADLINE``."""
    deadline = time.monotonic() + DEADLINE
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"the demo never showed {what}; its output:\n" + "".join(output))
        time.sleep(1)


def _page_once(browser: Browser, path: str, shows) -> str | None:
    """The page at ``path`` if ``shows(page)``, else None."""
    page = browser.get(path)[1]
    return page if shows(page) else None


def _worker_runs(page: str, name: str) -> int:
    runs = page.split('class="module db-runs"', 1)
    return (_figure(runs[1], name) or 0) if len(runs) == 2 else 0


def test_demo_serves_the_admin_shows_every_mode_and_stops_on_one_sigint(tmp_path):
    port = _free_port()
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SHOP_"))}
    env.update(SHOP_DEMO_DIR=str(tmp_path), DEMO_TEST_MARKER=marker)
    demo = subprocess.Popen(
        [sys.executable, "-m", "testproject.run_demo", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []

    def read() -> None:
        for line in demo.stdout:
            output.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait_for(
            "the admin login line",
            lambda: any(f"127.0.0.1:{port}/admin/  user: demo" in line for line in output),
            output,
        )
        started = _processes_marked(marker)
        # The supervisor, runserver and its autoreloader child, the worker (and its
        # autoreloader child), the relay.
        assert len(started) >= 5, output

        browser = Browser(f"http://127.0.0.1:{port}")
        status, login_page = browser.get("/admin/login/")
        assert status == 200
        assert 'name="username"' in login_page
        assert browser.log_in("demo", "demo").endswith("/admin/")

        order_page = "/admin/django_blinker/signal/model/shop.Order/"
        html = _wait_for(
            "the seeded calls of shop.Order's receivers",
            lambda: _page_once(
                browser,
                order_page,
                lambda page: (_figure(page, "testproject.shop.receivers.order_saved") or 0) > 0,
            ),
            output,
        )
        assert "tasks via outbox" in html
        assert (_figure(html, "testproject.shop.background.index_order") or 0) > 0

        product_page = browser.get("/admin/django_blinker/signal/model/shop.Product/")[1]
        assert "after commit" in product_page
        committed = _figure(product_page, "testproject.shop.receivers.product_stock_committed")
        assert (committed or 0) > 0
        customer_page = browser.get("/admin/django_blinker/signal/model/shop.Customer/")[1]
        assert "inline after commit" in customer_page
        assert (_figure(customer_page, "testproject.shop.background.welcome_customer") or 0) > 0

        post_save = "/admin/django_blinker/signal/signal/blinker/django_blinker.signals/post_save/"
        # The worker's own figures, merged from the activity store: the seeded events were
        # delivered by the worker, not in the web process.
        _wait_for(
            "index_order's runs in the worker",
            lambda: _page_once(
                browser,
                post_save,
                lambda page: (
                    _worker_runs(page, "testproject.shop.background.index_order") > 0
                    and "db-role-worker" in page
                ),
            ),
            output,
        )
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(60)
        finally:
            if demo.poll() is None:
                demo.kill()
    reader.join(10)
    assert demo.returncode == 0, "".join(output)
    assert any(line.startswith("Demo stopped.") for line in output)
    assert _wait_for_none(marker) == set(), "".join(output)

    # What the demo wrote in SHOP_DEMO_DIR, it writes at the checkout's root by default:
    # git must ignore every file of it, so that `git status` stays clean after `make demo`.
    written = sorted(
        str(path.relative_to(tmp_path)) + ("/" if path.is_dir() else "")
        for path in tmp_path.rglob("*")
    )
    assert "demo.sqlite3" in written
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT,
        input="\n".join(written),
        capture_output=True,
        text=True,
    ).stdout.split()
    assert set(written) - set(ignored) == set()


def _wait_for_none(marker: str) -> set[int]:
    # A process SIGKILLed by the supervisor may take a moment to leave /proc.
    left = _processes_marked(marker)
    for _ in range(50):
        if not left:
            break
        time.sleep(0.1)
        left = _processes_marked(marker)
    return left
