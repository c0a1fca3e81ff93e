from __future__ import annotations

import json
import re
from io import StringIO

import blinker
import pytest
from django.core.management import CommandError, call_command

from django_blinker import signals
from django_blinker.observation import activity
from tests.support.testapp.models import Author, Book


@pytest.fixture
def bridged():
    signals.post_save.connect(saved, sender=Book)
    yield signals
    for signal in signals.namespace.values():
        signal._clear_state()


def saved(sender, **kwargs):
    return None


def run(*args):
    out = StringIO()
    call_command("signals", *args, stdout=out, no_color=True)
    return out.getvalue()


def test_default_output_is_a_readable_table(bridged):
    out = run()
    assert "[blinker] django_blinker.signals :: post_save  (1 receiver; bridged with " in out
    assert "tests.management.test_commands.saved" in out
    assert "testapp.Book" in out
    assert "sync, weak, inline, function" in out
    assert "tests/management/test_commands.py:" in out
    assert "[django] django.db.models.signals :: post_migrate" in out
    assert "django.contrib.auth.management.create_permissions" in out


def test_json_follows_the_documented_schema(bridged):
    data = json.loads(run("--json"))
    assert data["version"] == 1
    post_save = next(
        s
        for s in data["signals"]
        if (s["system"], s["namespace"], s["name"])
        == ("blinker", "django_blinker.signals", "post_save")
    )
    assert set(post_save) == {
        "system",
        "namespace",
        "name",
        "doc",
        "app",
        "module",
        "model_signal",
        "bridged_with",
        "hooked",
        "receivers",
    }
    assert post_save["bridged_with"] == ["django", "django.db.models.signals", "post_save"]
    assert post_save["hooked"] is True
    assert post_save["receivers"] == [
        {
            "name": "tests.management.test_commands.saved",
            "kind": "function",
            "file": "tests/management/test_commands.py",
            "line": saved.__code__.co_firstlineno,
            "sender": "testapp.Book",
            "sender_model": "testapp.Book",
            "weak": True,
            "async": False,
            "mode": "inline",
            "dispatch_uid": None,
            "calls": None,
            "errors": None,
        }
    ]


def test_model_filter(bridged):
    out = run("--model", "testapp.Book")
    assert "What runs for testapp.Book" in out
    assert "tests.management.test_commands.saved" in out
    data = json.loads(run("--model", "testapp.Book", "--json"))
    assert data["model"] == "testapp.Book"
    assert [(r["signal"], r["action"], r["reason"], r["name"]) for r in data["receivers"]] == [
        (
            ["blinker", "django_blinker.signals", "post_save"],
            "save",
            "this model",
            "tests.management.test_commands.saved",
        )
    ]


def test_namespace_and_signal_filters(bridged):
    data = json.loads(run("--namespace", "django.core.signals", "--json"))
    assert {s["namespace"] for s in data["signals"]} == {"django.core.signals"}
    data = json.loads(run("--signal", "post_save", "--json"))
    assert {(s["system"], s["name"]) for s in data["signals"]} == {
        ("blinker", "post_save"),
        ("django", "post_save"),
    }
    data = json.loads(run("--signal", "post_save", "--system", "django", "--json"))
    assert [s["system"] for s in data["signals"]] == ["django"]


def test_unknown_model_is_a_clear_error():
    expected = r"'testapp\.Bok' is not an installed model; did you mean 'testapp\.Book'"
    with pytest.raises(CommandError, match=expected):
        run("--model", "testapp.Bok")


def test_unknown_namespace_is_a_clear_error():
    with pytest.raises(CommandError, match="'nope' is not a known namespace; expected one of: "):
        run("--namespace", "nope")


def test_unknown_signal_is_a_clear_error():
    with pytest.raises(CommandError, match="no signal named 'nope'"):
        run("--signal", "nope")


def test_escapes_nothing_and_crashes_on_nothing_in_odd_names():
    signal = blinker.signal("<script>alert(1)</script>")
    signal.connect(saved)
    try:
        assert "<script>alert(1)</script>" in run("--namespace", "blinker.default_namespace")
    finally:
        del blinker.default_namespace["<script>alert(1)</script>"]


def test_exit_status_is_zero_on_success(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "django", "signals", "--signal", "post_save"],
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "tests.support.settings", "PYTHONPATH": ".", "PATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "post_save" in result.stdout
    failed = subprocess.run(
        [sys.executable, "-m", "django", "signals", "--model", "nope.Nope"],
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "tests.support.settings", "PYTHONPATH": ".", "PATH": ""},
        check=False,
    )
    assert failed.returncode == 1
    assert "CommandError: 'nope.Nope' is not an installed model" in failed.stderr


def test_blinkers_default_namespace_is_known_even_while_empty():
    out = StringIO()
    call_command("signals", "--namespace", "blinker.default_namespace", stdout=out)
    assert out.getvalue() == "No signals match these options.\n"


def test_a_mistyped_signal_name_gets_a_suggestion():
    with pytest.raises(
        CommandError, match=r"no signal named 'post_sav'; did you mean 'post_save'\?"
    ):
        call_command("signals", "--signal", "post_sav", stdout=StringIO())


# --dot -----------------------------------------------------------------------------------


def test_dot_for_a_model_draws_what_runs_for_it(bridged):
    out = run("--dot", "--model", "testapp.Book")
    assert out.startswith('digraph "wiring of testapp.Book" {\n')
    assert out.endswith("}\n")
    assert 'label="tests.management.test_commands.saved\\nthis model"' in out
    assert 'label="Book\\ntestapp"' in out
    assert 'label="inline\\n1 receiver"' in out
    assert out.count(" -> ") == 3


def test_dot_without_a_model_draws_every_model_with_receivers(bridged):
    signals.post_delete.connect(saved)
    out = run("--dot", "--namespace", "django_blinker.signals")
    models = re.findall(r'label="(\w+)\\ntestapp"', out)
    assert {"Book", "Tag", "Author"} <= set(models)
    assert out.count('label="tests.management.test_commands.saved\\nthis model"') == 1
    assert "django, on" not in out


def test_dot_follows_the_signal_filter(bridged):
    signals.post_delete.connect(saved)
    out = run("--dot", "--signal", "post_save", "--model", "testapp.Book")
    assert "post_save" in out
    assert "post_delete" not in out


@pytest.mark.graphviz
def test_dot_is_valid_graphviz(bridged):
    from tests.inspection.test_picture import render

    rendered = render(run("--dot"))
    texts = {text.text for text in rendered.iter("{http://www.w3.org/2000/svg}text")}
    assert "tests.management.test_commands.saved" in texts


def test_dot_and_json_are_one_or_the_other():
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("signals", "--dot", "--json", stdout=StringIO())


def test_signals_without_receivers_are_left_out_unless_asked_for(bridged):
    out = run()
    assert "[blinker] django_blinker.signals :: post_save" in out
    assert "[blinker] django_blinker.signals :: pre_init" not in out
    assert "(no receivers)" not in out
    hidden = re.search(
        r"^(\d+) signals without receivers not shown \(--all lists them\)\.$", out, re.M
    )
    assert hidden is not None
    every = run("--all")
    assert "[blinker] django_blinker.signals :: pre_init  (0 receivers" in every
    assert every.count("(no receivers)") == int(hidden.group(1))
    assert "not shown" not in every
    asked = run("--signal", "pre_init", "--system", "blinker")
    assert "[blinker] django_blinker.signals :: pre_init" in asked


def test_json_lists_every_signal_with_or_without_receivers(bridged):
    names = {(s["system"], s["name"]) for s in json.loads(run("--json"))["signals"]}
    assert ("blinker", "pre_init") in names


def test_a_filter_that_excludes_every_receiver_says_so(bridged):
    out = run("--model", "testapp.Book", "--signal", "pre_delete")
    assert "no receiver of either system listens" not in out
    assert (
        "nothing among the signals that --signal pre_delete keeps; 1 receiver of other "
        "signals runs for testapp.Book (drop the filter to see it)"
    ) in out
    nothing = run("--model", "testapp.Tag", "--signal", "pre_delete")
    assert "nothing: no receiver of either system listens to this model" in nothing


@pytest.fixture
def recording(settings):
    activity.reset()
    settings.DJANGO_BLINKER = {"ACTIVITY": True}
    yield
    activity.reset()


@pytest.mark.django_db
def test_call_counts_appear_while_activity_is_recorded(bridged, recording):
    book = Book.objects.create(title="The Dispossessed", author=Author.objects.create(name="U"))
    book.save()
    out = run()
    header = next(line for line in out.splitlines() if line.strip().startswith("receiver"))
    assert header.split() == ["receiver", "sender", "runs", "calls", "source"]
    row = next(line for line in out.splitlines() if "tests.management.test_commands.saved" in line)
    assert row.split()[-2] == "2"
    assert (
        "(1 receiver; bridged with django.db.models.signals :: post_save; hooked; 2 sends)" in out
    )
    assert "Calls: this process's only" in out
    native = next(line for line in out.splitlines() if "create_permissions" in line)
    assert " - " in native
    data = json.loads(run("--json"))
    post_save = next(
        s for s in data["signals"] if (s["system"], s["name"]) == ("blinker", "post_save")
    )
    assert [(r["calls"], r["errors"]) for r in post_save["receivers"]] == [(2, 0)]
    model = json.loads(run("--model", "testapp.Book", "--json"))
    assert [(r["name"], r["calls"]) for r in model["receivers"]] == [
        ("tests.management.test_commands.saved", 2)
    ]
    assert "2" in run("--model", "testapp.Book")


def test_no_calls_column_while_activity_is_off(bridged):
    out = run()
    header = next(line for line in out.splitlines() if line.strip().startswith("receiver"))
    assert header.split() == ["receiver", "sender", "runs", "source"]
    assert "Calls:" not in out


@pytest.mark.django_db
def test_call_counts_add_up_every_process_with_the_activity_store(bridged, settings):
    from django.core.cache import caches

    from django_blinker.observation import store as activity_store
    from tests.observation.test_store import other_process

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "activity": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "commands-activity",
        },
    }
    settings.DJANGO_BLINKER = {"ACTIVITY": True, "ACTIVITY_STORE": "activity"}
    activity.reset()
    try:
        Book.objects.create(title="Lathe", author=Author.objects.create(name="U"))
        other_process(caches["activity"], 4242, "web", calls=5)
        out = run()
    finally:
        activity_store.stop()
        activity.reset()
    assert "Calls: every process writing to the activity store" in out
    row = next(line for line in out.splitlines() if "tests.management.test_commands.saved" in line)
    assert row.split()[-2] == "1"
    assert "6 sends" in out
