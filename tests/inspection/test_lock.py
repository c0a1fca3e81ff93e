"""The wiring lock: ``manage.py signals --lock FILE`` and ``--check FILE``."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_blinker import after_commit, background, inspection, signals
from django_blinker.inspection.lock import HEADER, Lock, LockFileError
from tests.support.testapp.models import Author, Book

ROOT = Path(__file__).resolve().parents[2]
FILTER = ("--namespace", "django_blinker.signals")

HERE = "tests.inspection.test_lock"


def first_receiver(sender, **kwargs):
    return None


def second_receiver(sender, **kwargs):
    return None


def moved_receiver(sender, **kwargs):
    return None


@pytest.fixture
def wiring():
    signals.post_save.connect(first_receiver, sender=Book)
    signals.post_save.connect(second_receiver, sender=Book)
    signals.post_delete.connect(first_receiver, sender=Author)
    yield
    after_commit.disconnect(signals.post_save, moved_receiver)
    background.disconnect(signals.post_save, moved_receiver)
    for signal in signals.namespace.values():
        signal._clear_state()


def lock(path, *options):
    out = StringIO()
    call_command("signals", *FILTER, *options, "--lock", str(path), stdout=out, no_color=True)
    return out.getvalue()


def check(path, *options):
    """``(stdout, CommandError or None)`` of ``signals --check path``."""
    out = StringIO()
    try:
        call_command("signals", *FILTER, *options, "--check", str(path), stdout=out, no_color=True)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_the_lock_lists_each_signal_and_sender_with_receivers_in_order(wiring, tmp_path):
    path = tmp_path / "wiring.lock"
    assert lock(path) == f"Wrote the wiring to {path}: 3 receivers of 2 signals.\n"
    text = path.read_text()
    assert text.startswith(HEADER + "\n")
    assert (
        "[blinker] django_blinker.signals :: post_delete\n"
        "  sender testapp.Author\n"
        f"    {HERE}.first_receiver  inline\n"
        "\n"
        "[blinker] django_blinker.signals :: post_save\n"
        "  sender testapp.Book\n"
        f"    {HERE}.first_receiver   inline\n"
        f"    {HERE}.second_receiver  inline\n"
    ) in text
    assert "test_lock.py" not in text


def test_djangos_own_receivers_are_left_out_of_the_lock(tmp_path):
    path = tmp_path / "wiring.lock"
    call_command("signals", "--system", "django", "--lock", str(path), stdout=StringIO())
    text = path.read_text()
    assert "django.db.close_old_connections" not in text
    assert "request_finished" not in text


def test_the_lock_is_the_same_file_whenever_the_wiring_is_the_same(wiring, tmp_path):
    lock(tmp_path / "one")
    signals.post_delete.disconnect(first_receiver, sender=Author)
    signals.post_delete.connect(first_receiver, sender=Author)
    lock(tmp_path / "two")
    assert (tmp_path / "one").read_text() == (tmp_path / "two").read_text()


def test_check_of_unchanged_wiring_says_ok_in_one_line(wiring, tmp_path):
    path = tmp_path / "wiring.lock"
    lock(path)
    out, error = check(path)
    assert error is None
    assert out == f"OK: the wiring matches {path}.\n"


def test_check_reports_an_added_receiver(wiring, tmp_path):
    path = tmp_path / "wiring.lock"
    lock(path)
    signals.post_save.connect(moved_receiver, sender=Author)
    out, error = check(path)
    assert error is not None and error.returncode == 1
    assert "the wiring differs from" in str(error)
    assert (
        f"  added: {HERE}.moved_receiver (inline) to "
        "[blinker] django_blinker.signals :: post_save (sender testapp.Author)\n"
    ) in out
    assert f"--- {path}\n+++ the wiring now\n" in out
    assert f"\n+  sender testapp.Author\n+    {HERE}.moved_receiver  inline\n" in out


def test_check_reports_a_removed_receiver(wiring, tmp_path):
    path = tmp_path / "wiring.lock"
    lock(path)
    signals.post_save.disconnect(second_receiver, sender=Book)
    out, error = check(path)
    assert error is not None and error.returncode == 1
    assert f"  removed: {HERE}.second_receiver (inline) from " in out
    assert f"\n-    {HERE}.second_receiver  inline\n" in out


def test_check_reports_a_receiver_moved_to_after_commit_then_to_a_background_backend(
    wiring, tmp_path
):
    signals.post_save.connect(moved_receiver, sender=Book)
    path = tmp_path / "wiring.lock"
    lock(path)
    signals.post_save.disconnect(moved_receiver, sender=Book)
    after_commit.on_commit(signals.post_save, moved_receiver, sender=Book)
    out, error = check(path)
    assert error is not None and error.returncode == 1
    assert f"  mode changed: {HERE}.moved_receiver inline -> after-commit in " in out
    assert f"\n+    {HERE}.moved_receiver   after-commit\n" in out

    lock(path)
    after_commit.disconnect(signals.post_save, moved_receiver, sender=Book)
    background.in_background(signals.post_save, moved_receiver, sender=Book, backend="inline")
    out, error = check(path)
    assert error is not None
    assert (f"  mode changed: {HERE}.moved_receiver after-commit -> background:inline in ") in out

    lock(path)
    background.disconnect(signals.post_save, moved_receiver)
    background.in_background(signals.post_save, moved_receiver, sender=Book, backend="celery")
    out, error = check(path)
    assert error is not None
    assert (
        f"  mode changed: {HERE}.moved_receiver background:inline -> background:celery in "
    ) in out


def test_check_reports_a_change_of_order(wiring, tmp_path):
    path = tmp_path / "wiring.lock"
    lock(path)
    signals.post_save.disconnect(first_receiver, sender=Book)
    signals.post_save.connect(first_receiver, sender=Book)
    out, error = check(path)
    assert error is not None and error.returncode == 1
    assert (
        "  order changed in [blinker] django_blinker.signals :: post_save (sender "
        f"testapp.Book): {HERE}.first_receiver, {HERE}.second_receiver -> "
        f"{HERE}.second_receiver, {HERE}.first_receiver\n"
    ) in out
    assert "added:" not in out and "removed:" not in out


def test_a_receiver_listed_once_more_is_a_change_too():
    from django_blinker.inspection.lock import changes

    group = ("[django] shop.signals :: paid", "any")
    old = Lock({group: [("shop.receivers.mail", "inline")]})
    new = Lock({group: [("shop.receivers.mail", "inline"), ("shop.receivers.mail", "inline")]})
    assert changes(old, new) == [
        "connected another number of times: shop.receivers.mail 1 -> 2 in "
        "[django] shop.signals :: paid (sender any)"
    ]


@pytest.mark.parametrize(
    ("mode", "is_async", "word"),
    [
        ("inline", False, "inline"),
        ("inline", True, "inline+async"),
        ("after commit", False, "after-commit"),
        ("inline after commit", False, "background:inline"),
        ("celery", False, "background:celery"),
        ("celery via outbox", False, "background:celery"),
        ("tasks via outbox", False, "background:tasks"),
    ],
)
def test_how_a_receiver_runs_is_one_word_without_the_outbox_setting(mode, is_async, word):
    from django_blinker.inspection.describe import ReceiverInfo
    from django_blinker.inspection.lock import mode_of

    info = ReceiverInfo("r", "function", None, None, "any", None, True, is_async, mode)
    assert mode_of(info) == word


def test_a_missing_lock_file_is_a_clear_error(tmp_path):
    path = tmp_path / "nowhere.lock"
    out, error = check(path)
    assert error is not None and error.returncode == 2
    assert str(error) == (
        f"{str(path)!r} does not exist; write it with manage.py signals --lock {path}"
    )
    assert out == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is not a django-blinker wiring lock: its first line is missing (the file is empty)"),
        # The content of a file that is not a lock is never quoted: it may hold secrets.
        ('{"version": 1}\n', "its first line is not '# django-blinker wiring lock"),
        (f"{HEADER}\n  sender testapp.Book\n", "line 2: 'sender testapp.Book' is not a line"),
        (
            f"{HEADER}\n[blinker] ns :: post_save\n  sender testapp.Book\n    only_a_name\n",
            "line 4: 'only_a_name' is not a line of a wiring lock (a receiver line needs",
        ),
    ],
)
def test_a_garbled_lock_file_is_a_clear_error(tmp_path, text, expected):
    path = tmp_path / "garbled.lock"
    path.write_text(text)
    _out, error = check(path)
    assert error is not None and error.returncode == 2
    assert expected in str(error)


def test_a_lock_reads_back_as_it_was_written(wiring):

    written = Lock.of(inspection.discover())
    assert Lock.parse(written.text()) == written
    with pytest.raises(LockFileError):
        Lock.parse("nonsense")


def test_lock_and_check_do_not_take_a_model(tmp_path):
    with pytest.raises(CommandError, match="leave out --model"):
        call_command("signals", "--model", "testapp.Book", "--lock", str(tmp_path / "x"))


def test_ci_step_through_manage_py_fails_on_a_changed_wiring_and_shows_the_diff(tmp_path):
    path = tmp_path / "wiring.lock"

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", "signals", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            # The demo's settings keep their activity cache in SHOP_DEMO_DIR, else in the
            # checkout: a test leaves the checkout as it found it.
            env={"PYTHONPATH": str(ROOT), "PATH": "", "SHOP_DEMO_DIR": str(tmp_path)},
            check=False,
            timeout=120,
        )

    written = manage("--lock", str(path))
    assert written.returncode == 0, written.stderr
    assert "testproject.shop.receivers.order_saved" in path.read_text()
    same = manage("--check", str(path))
    assert (same.returncode, same.stdout) == (0, f"OK: the wiring matches {path}.\n")

    edited = path.read_text().replace("testproject.shop.receivers.order_saved ", "shop.gone ")
    path.write_text(edited)
    differs = manage("--check", str(path))
    assert differs.returncode == 1
    assert "  added: testproject.shop.receivers.order_saved (inline) to " in differs.stdout
    assert "  removed: shop.gone (inline) from " in differs.stdout
    assert "\n-    shop.gone " in differs.stdout
    assert "\n+    testproject.shop.receivers.order_saved " in differs.stdout
    assert "CommandError: the wiring differs from" in differs.stderr
