"""The pytest plugin, exercised as a user would: a pytest run of a small test file."""

from __future__ import annotations

import os
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "django_blinker.pytest_plugin"

USER_TESTS = """
import pytest
from django.core.management import call_command

from django_blinker import after_commit, signals
from django_blinker.signals import bridged_signals
from tests.support.testapp.models import Author, Book


class Calls:
    def __init__(self):
        self.calls = []

    def __call__(self, sender, **kwargs):
        self.calls.append((sender, kwargs))


@pytest.fixture
def saves():
    calls = Calls()
    signals.post_save.connect(calls, weak=False)
    yield calls
    signals.post_save.disconnect(calls)


@pytest.fixture
def books(db, mute_signals):
    with mute_signals():
        call_command("loaddata", "books", verbosity=0)
    return Book.objects.all()


@pytest.fixture
def books_loaded_by_a_marked_test(db):
    call_command("loaddata", "books", verbosity=0)


@pytest.mark.django_db
def test_signal_recorder(signal_recorder):
    recorder = signal_recorder(signals.post_save, signals.post_delete, sender="testapp.Author")
    author = Author.objects.create(name="Ann")
    author.delete()
    recorder.assert_sent_once(signals.post_save, instance=author, created=True)
    recorder.assert_sent_once(signals.post_delete, sender=Author)
    assert signals.post_save.is_hooked()


@pytest.mark.django_db
def test_failure_shows_what_was_sent(signal_recorder):
    recorder = signal_recorder(signals.post_save)
    Author.objects.create(name="Ann")
    recorder.assert_sent(sender=Author, created=False)


def test_a_fixture_loads_data_with_signals_muted(books, saves):
    assert saves.calls == []
    assert books.count() == 2
    assert not signals.post_save.is_muted
    books.first().save()
    assert len(saves.calls) == 1


def test_mute_signals_until_the_end_of_the_test(mute_signals):
    mute_signals(signals.post_save)
    assert signals.post_save.is_muted
    assert not signals.pre_save.is_muted


@pytest.mark.mute_signals
def test_marker_mutes_every_bridged_signal(books_loaded_by_a_marked_test, saves):
    assert signals.post_save.is_muted and signals.m2m_changed.is_muted
    assert Book.objects.count() == 2
    assert saves.calls == []


@pytest.mark.mute_signals(signals.pre_save)
def test_marker_mutes_the_signals_it_names():
    assert signals.pre_save.is_muted
    assert not signals.post_save.is_muted


@pytest.mark.django_db
def test_run_receivers_inline(run_receivers_inline):
    calls = Calls()
    after_commit.on_commit(signals.post_save, calls, sender=Author)
    try:
        with run_receivers_inline():
            Author.objects.create(name="Ann")
            assert calls.calls == []
        assert len(calls.calls) == 1
    finally:
        after_commit.disconnect(signals.post_save, calls, sender=Author)


def test_runs_last_and_finds_nothing_muted_or_hooked():
    # pytest-django runs database tests first, so this runs after every other test here.
    assert not any(s.is_muted or s.is_hooked() for s in bridged_signals())
"""


def plugin_installed() -> bool:
    return any(entry.value == PLUGIN for entry in entry_points(group="pytest11"))


@pytest.fixture
def run_pytest(pytester, monkeypatch):
    """Run pytest in a subprocess on a test file, with the test project importable."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.support.settings")
    # On PostgreSQL the inner run would recreate, and fight over, this run's test database.
    monkeypatch.delenv("DJANGO_BLINKER_DB", raising=False)
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    # Once the entry point is installed pytest loads the plugin itself; -p would then
    # register the same module a second time, which pytest refuses.
    load = [] if plugin_installed() else ["-p", PLUGIN]

    def run(source, *args):
        pytester.makepyfile(test_user=source)
        return pytester.runpytest_subprocess(*load, *args)

    return run


def test_fixtures_and_marker_work_in_a_users_test_run(run_pytest):
    result = run_pytest(USER_TESTS, "-v")
    result.stdout.fnmatch_lines(["*test_runs_last_and_finds_nothing_muted_or_hooked PASSED*"])
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_failure_shows_what_was_sent FAILED*",
            "*Expected post_save with sender=testapp.Author, created=False to be sent; it was not.",
            "*1. post_save(testapp.Author, instance=<Author: Ann>, created=True,*",
            "*differs: created is True, not False",
        ]
    )


def test_fixtures_and_marker_are_documented(run_pytest):
    fixtures = run_pytest("", "--fixtures")
    fixtures.stdout.fnmatch_lines_random(
        [
            "signal_recorder -- *pytest_plugin.py:*",
            "*Start recording signals: ``signal_recorder(*signals, sender=ANY)``.",
            "mute_signals -- *pytest_plugin.py:*",
            "run_receivers_inline -- *pytest_plugin.py:*",
        ]
    )
    markers = run_pytest("", "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.mute_signals(*signals): mute these Blinker*"])


def test_pyproject_registers_the_plugin_by_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    registered = project.get("entry-points", {}).get("pytest11", {})
    assert registered == {"django_blinker": PLUGIN}
