"""Lazy "app_label.ModelName" senders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from django_blinker import labels, signals
from tests.testapp.models import Book

ROOT = Path(__file__).resolve().parent.parent


def test_resolve_finds_the_model_case_insensitively():
    assert labels.resolve("testapp.Book") is Book
    assert labels.resolve("testapp.book") is Book


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("testapp.Bok", "'testapp.Bok' is not an installed model; did you mean 'testapp.Book'?"),
        ("TESTAPP.SHELFENTRI", "did you mean 'testapp.ShelfEntry'?"),
        ("nowhere.Nothing", "expected 'app_label.ModelName' of a model in INSTALLED_APPS"),
        ("too.many.dots", "'too.many.dots' is not an installed model"),
    ],
)
def test_unknown_labels_name_the_label_and_the_closest_model(label, message):
    with pytest.raises(LookupError) as error:
        labels.resolve(label)
    assert message in str(error.value)


def test_connection_made_before_the_registry_is_ready_waits_for_it(monkeypatch):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    monkeypatch.setattr(labels.apps, "models_ready", False)
    signals.post_save.connect(receiver, sender="testapp.Book", weak=False)
    assert not signals.post_save.has_receivers_for(Book)
    monkeypatch.setattr(labels.apps, "models_ready", True)
    assert labels.resolve_pending() == []
    try:
        assert signals.post_save.has_receivers_for(Book)
        signals.post_save.send(Book)
        assert seen == [Book]
    finally:
        signals.post_save.disconnect(receiver)


def test_disconnect_before_the_registry_is_ready_forgets_the_waiting_connection(monkeypatch):
    def receiver(sender, **kwargs):
        return None

    monkeypatch.setattr(labels.apps, "models_ready", False)
    signals.post_save.connect(receiver, sender="testapp.Book")
    signals.post_save.disconnect(receiver, sender="testapp.Book")
    monkeypatch.setattr(labels.apps, "models_ready", True)
    assert labels.resolve_pending() == []
    assert not signals.post_save.has_receivers_for(Book)


def test_label_that_never_resolves_is_a_system_check_error():
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--settings=tests.settings_badlabel"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "django_blinker.E004" in result.stderr
    assert "tests.badlabel.models.book_saved was connected to post_save" in result.stderr
    assert "did you mean 'testapp.Book'?" in result.stderr


def test_bare_model_name_suggests_its_label():
    with pytest.raises(
        LookupError, match=r"'Book' is not an installed model; did you mean 'testapp\.Book'\?"
    ):
        labels.resolve("Book")
