"""The testing toolkit: recording, assertions, muting and inline receivers, on a real database."""

from __future__ import annotations

import asyncio
import gc
from unittest import mock

import blinker
import pytest
from blinker import ANY
from django.core.management import call_command
from django.db.models import signals as django_signals
from django.test import TestCase

from django_blinker import after_commit, signals
from django_blinker.signals import bridged_signals
from django_blinker.testing import (
    Sent,
    assert_not_sent,
    assert_sent,
    mute_signals,
    record_signals,
    run_receivers_inline,
)
from tests.support.testapp.models import Author, Book, ProxyBook, Tag

order_shipped = blinker.Signal("order-shipped (tests.testing.test_testing)")


class Calls:
    """A strongly held receiver that records (sender, kwargs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, dict[str, object]]] = []

    def __call__(self, sender: object, **kwargs: object) -> None:
        self.calls.append((sender, kwargs))


@pytest.fixture(autouse=True)
def _leaves_nothing_behind():
    hooked_before = {s for s in bridged_signals() if s.is_hooked()}
    yield
    hooked_after = {s.name for s in bridged_signals() if s.is_hooked() and s not in hooked_before}
    muted = [s.name for s in bridged_signals() if s.is_muted]
    assert hooked_after == set(), "the test left Django hooked"
    assert muted == [], "the test left signals muted"
    assert not order_shipped.is_muted
    assert not order_shipped.receivers


@pytest.fixture
def listen():
    """Connect a Calls receiver (strongly) and disconnect it after the test."""
    connected = []

    def connect(signal, sender=ANY):
        calls = Calls()
        signal.connect(calls, sender=sender, weak=False)
        connected.append((signal, calls))
        return calls

    yield connect
    for signal, calls in connected:
        signal.disconnect(calls)


# Recording ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_recorder_records_sender_and_kwargs_in_order():
    with record_signals(signals.pre_save, signals.post_save) as recorder:
        author = Author.objects.create(name="Ann")
        author.name = "Ann L."
        author.save(update_fields=["name"])
    assert [(s.signal_name, s.sender, s["instance"]) for s in recorder] == [
        ("pre_save", Author, author),
        ("post_save", Author, author),
        ("pre_save", Author, author),
        ("post_save", Author, author),
    ]
    assert recorder.sent[1].kwargs == {
        "instance": author,
        "created": True,
        "update_fields": None,
        "raw": False,
        "using": "default",
    }
    assert recorder.sent[3]["update_fields"] == frozenset({"name"})


@pytest.mark.django_db
@pytest.mark.parametrize("sender", [Book, "testapp.Book", "testapp.book"])
def test_recorder_records_only_the_given_model(sender):
    with record_signals(signals.post_save, sender=sender) as recorder:
        author = Author.objects.create(name="Ann")
        book = Book.objects.create(title="Dune", author=author)
        ProxyBook.objects.create(title="Proxy", author=author)
    assert [(s.sender, s["instance"]) for s in recorder] == [(Book, book)]


@pytest.mark.django_db
def test_recorder_for_one_model_hooks_django_for_that_model_only():
    with record_signals(signals.post_save, sender="testapp.Book"):
        assert django_signals.post_save.has_listeners(Book)
        assert not django_signals.post_save.has_listeners(Author)
    assert not signals.post_save.is_hooked()
    assert not django_signals.post_save.has_listeners(Book)


@pytest.mark.django_db
def test_recorder_leaves_no_django_hook_behind_even_when_the_block_raises():
    with pytest.raises(RuntimeError), record_signals(signals.post_save, signals.m2m_changed):
        assert signals.post_save.is_hooked()
        Author.objects.create(name="Ann")
        raise RuntimeError("boom")
    assert not signals.post_save.is_hooked()
    assert not signals.m2m_changed.is_hooked()
    assert not django_signals.post_save.has_listeners(Author)


def test_unknown_label_fails_at_start_and_connects_nothing():
    recorder = record_signals(signals.pre_save, signals.post_save, sender="testapp.Bok")
    with pytest.raises(LookupError, match=r"'testapp\.Bok'.*did you mean 'testapp\.Book'"):
        recorder.start()
    assert not recorder.active
    assert not signals.pre_save.is_hooked()


@pytest.mark.django_db
def test_recorder_records_cascading_deletes():
    author = Author.objects.create(name="Frank")
    book = Book.objects.create(title="Dune", author=author)
    book_pk = book.pk
    with record_signals(signals.pre_delete, signals.post_delete) as recorder:
        author.delete()
    assert [(s.signal_name, s.sender) for s in recorder] == [
        ("pre_delete", Book),
        ("pre_delete", Author),
        ("post_delete", Book),
        ("post_delete", Author),
    ]
    deleted_book = recorder.assert_sent_once(signals.post_delete, sender=Book, origin=author)
    assert deleted_book["instance"].title == "Dune"
    assert not Book.objects.filter(pk=book_pk).exists()


@pytest.mark.django_db
def test_recorder_records_m2m_changes_through_the_bridge():
    author = Author.objects.create(name="Ann")
    book = Book.objects.create(title="The Dispossessed", author=author)
    classic, space = Tag.objects.create(name="classic"), Tag.objects.create(name="space")
    through = Book.tags.through
    with record_signals(signals.m2m_changed, sender=through) as recorder:
        book.tags.add(classic, space)
        space.books.remove(book)
        book.tags.clear()
    assert [s["action"] for s in recorder] == [
        "pre_add",
        "post_add",
        "pre_remove",
        "post_remove",
        "pre_clear",
        "post_clear",
    ]
    recorder.assert_sent_once(
        action="post_add", instance=book, reverse=False, model=Tag, pk_set={classic.pk, space.pk}
    )
    recorder.assert_sent_once(action="post_remove", instance=space, reverse=True, model=Book)
    recorder.assert_sent_once(action="post_clear", pk_set=None)


def test_recorder_records_plain_blinker_signals_by_sender_value_and_model_label():
    with record_signals(order_shipped) as recorder:
        order_shipped.send(Book, order=1)
        order_shipped.send("warehouse", order=2)
        order_shipped.send(None, order=3)
    recorder.assert_sent_once(sender="testapp.Book", order=1)
    recorder.assert_sent_once(sender=Book, order=1)
    recorder.assert_sent_once(sender="warehouse", order=2)
    recorder.assert_sent_once(sender=None, order=3)
    recorder.assert_not_sent(sender="testapp.Author")
    assert not order_shipped.receivers


def test_recorder_filters_plain_blinker_signals_at_record_time():
    with record_signals(order_shipped, sender="testapp.Book") as recorder:
        order_shipped.send(Book, order=1)
        order_shipped.send(Author, order=2)
        order_shipped.send("testapp.Book", order=3)
    assert [s["order"] for s in recorder] == [1, 3]


def test_recorder_records_a_whole_namespace():
    hooks = blinker.Namespace()
    before, after = hooks.signal("before-checkout"), hooks.signal("after-checkout")
    with record_signals(hooks) as recorder:
        before.send("cart", total=10)
        after.send("cart", total=10, paid=True)
    assert [str(s) for s in recorder] == [
        "before-checkout('cart', total=10)",
        "after-checkout('cart', total=10, paid=True)",
    ]
    recorder.assert_sent("after-checkout", paid=True)
    assert not before.receivers and not after.receivers


@pytest.mark.django_db
def test_recorder_of_the_bridged_namespace_sees_every_model_signal_and_unhooks_all():
    with record_signals(signals.namespace, sender=Author) as recorder:
        Author.objects.create(name="Ann")
    assert [s.signal_name for s in recorder] == ["pre_init", "post_init", "pre_save", "post_save"]
    assert not any(s.is_hooked() for s in bridged_signals())


def test_recorder_receiver_is_held_strongly():
    with record_signals(order_shipped) as recorder:
        gc.collect()
        order_shipped.send("warehouse")
    assert len(recorder) == 1


def test_recorder_can_be_cleared_and_keeps_what_it_recorded_after_stopping():
    recorder = record_signals(order_shipped).start()
    order_shipped.send("a")
    recorder.clear()
    order_shipped.send("b")
    recorder.stop()
    order_shipped.send("c")
    assert [s.sender for s in recorder] == ["b"]
    assert recorder.sent == [Sent(order_shipped, "b", {})]


def test_record_signals_refuses_things_that_are_not_signals():
    with pytest.raises(TypeError, match=r"expected a blinker Signal or Namespace, not 'post_save'"):
        record_signals("post_save")
    with pytest.raises(TypeError, match="at least one signal"):
        record_signals()


# Assertions -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_assert_sent_returns_the_matching_sends_with_kwargs_subset():
    with record_signals(signals.post_save) as recorder:
        author = Author.objects.create(name="Ann")
        author.save()
    assert recorder.assert_sent(sender=Author) == recorder.sent
    assert [s["created"] for s in recorder.assert_sent(sender=Author, times=2)] == [True, False]
    created = recorder.assert_sent_once(signals.post_save, sender=Author, created=True)
    assert created["instance"] == author
    recorder.assert_sent_once(instance=author, created=False, using=mock.ANY)


@pytest.mark.django_db
def test_assert_sent_failure_shows_what_was_sent_instead():
    with record_signals(signals.post_save) as recorder:
        author = Author.objects.create(name="Ann")
        Book.objects.create(title="Dune", author=author)
        author.save()
    with pytest.raises(AssertionError) as failure:
        recorder.assert_sent(sender="testapp.Book", created=False)
    message = str(failure.value)
    assert message.splitlines()[0] == (
        "Expected post_save with sender='testapp.Book', created=False to be sent; it was not."
    )
    assert "Sent while recording (3 of 3):" in message
    assert "1. post_save(testapp.Author, instance=<Author: Ann>, created=True," in message
    assert "differs: sender is testapp.Author, not 'testapp.Book'" in message
    assert "differs: created is True, not False" in message
    assert "2. post_save(testapp.Book, instance=<Book: Dune>" in message


@pytest.mark.django_db
def test_assert_sent_once_fails_when_sent_twice_and_marks_the_matches():
    with record_signals(signals.post_save, sender=Author) as recorder:
        Author.objects.create(name="Ann")
        Author.objects.create(name="Bob")
    with pytest.raises(
        AssertionError,
        match=r"Expected post_save with sender=testapp\.Author to be sent 1 time; "
        r"it was sent 2 times\.\n.*\n  1\. post_save\(testapp\.Author.*\n     matches",
    ):
        recorder.assert_sent_once(sender=Author)


@pytest.mark.django_db
def test_assert_not_sent_failure_lists_the_sends():
    author = Author.objects.create(name="Ann")
    book = Book.objects.create(title="Dune", author=author)
    with record_signals(signals.pre_save, signals.post_delete) as recorder:
        book.delete()
    recorder.assert_not_sent(signals.pre_save)
    recorder.assert_not_sent(signals.post_delete, sender=Author)
    with pytest.raises(
        AssertionError,
        match=r"Expected post_delete not to be sent; it was sent 1 time\.\n"
        r"Sent while recording \(1 of 1\):\n  1\. post_delete\(testapp\.Book, "
        r"instance=<Book: Dune>, using='default', origin=<Book: Dune>\)",
    ):
        recorder.assert_not_sent(signals.post_delete)


def test_failure_says_when_nothing_or_only_other_signals_were_sent():
    hooks = blinker.Namespace()
    paid, refunded = hooks.signal("paid"), hooks.signal("refunded")
    with record_signals(paid, refunded) as recorder:
        pass
    with pytest.raises(AssertionError, match=r"(?s)to be sent; it was not\.\nNothing was sent"):
        recorder.assert_sent(paid)
    with record_signals(paid, refunded) as recorder:
        refunded.send("shop", amount=5)
        refunded.send("shop", amount=6)
    with pytest.raises(
        AssertionError,
        match=r"(?s)paid with amount=5 to be sent.*\npaid was not sent at all\.\n"
        r"Also recorded: refunded x2\.",
    ):
        recorder.assert_sent(paid, amount=5)


def test_failure_message_elides_long_values_and_long_lists():
    with record_signals(order_shipped) as recorder:
        for number in range(30):
            order_shipped.send("shop", note="x" * 200, number=number)
    with pytest.raises(AssertionError) as failure:
        recorder.assert_sent(number=99)
    message = str(failure.value)
    assert "'" + "x" * 76 + "..." in message
    assert "... and 5 more" in message
    assert "number is 0, not 99" in message


@pytest.mark.django_db
def test_failure_message_does_not_evaluate_querysets(django_assert_num_queries):
    author = Author.objects.create(name="Ann")
    Book.objects.create(title="Dune", author=author)
    with record_signals(signals.post_delete, signals.pre_delete) as recorder:
        Book.objects.all().delete()
    with django_assert_num_queries(0), pytest.raises(AssertionError) as failure:
        recorder.assert_sent(sender=Author)
    message = str(failure.value)
    assert message.startswith("Expected a signal with sender=testapp.Author to be sent")
    assert "1. pre_delete(testapp.Book, instance=<Book: Dune>, using='default', " in message
    assert "origin=<QuerySet of testapp.Book>)" in message


def test_asking_about_a_signal_that_is_not_recorded_is_an_error():
    with record_signals(order_shipped) as recorder:
        pass
    with pytest.raises(ValueError, match=r"'post_save' is not recorded here"):
        recorder.assert_sent(signals.post_save)
    with pytest.raises(ValueError, match=r"'post_delete' is not recorded here"):
        recorder.filter("post_delete")


def test_a_misspelt_label_in_an_assertion_on_a_model_signal_fails_loudly():
    with record_signals(signals.post_save, sender=Author) as recorder:
        pass
    with pytest.raises(LookupError, match=r"did you mean 'testapp\.Author'"):
        recorder.assert_not_sent(signals.post_save, sender="testapp.Autor")


def test_negative_times_is_refused():
    with record_signals(order_shipped) as recorder, pytest.raises(ValueError, match="times"):
        recorder.assert_sent(times=-1)


@pytest.mark.django_db
def test_assert_sent_context_manager():
    with assert_sent(signals.post_save, sender=Author, created=True, times=1) as recorder:
        Author.objects.create(name="Ann")
    assert len(recorder) == 1
    with (
        pytest.raises(AssertionError, match=r"created is True, not False"),
        assert_sent(signals.post_save, sender="testapp.Author", created=False),
    ):
        Author.objects.create(name="Bob")
    assert not signals.post_save.is_hooked()


@pytest.mark.django_db
def test_assert_not_sent_context_manager():
    author = Author.objects.create(name="Ann")
    with assert_not_sent(signals.post_delete, sender=Author):
        Book.objects.create(title="Dune", author=author).delete()
    with (
        pytest.raises(AssertionError, match=r"post_delete with sender=testapp\.Author not to"),
        assert_not_sent(signals.post_delete, sender=Author),
    ):
        author.delete()


def test_assertion_context_managers_let_the_blocks_exception_through():
    with pytest.raises(KeyError), assert_sent(order_shipped):
        raise KeyError("not an assertion failure")


# Muting ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_mute_every_bridged_signal_while_loading_a_fixture(listen):
    saved = listen(signals.post_save)
    changed = listen(signals.m2m_changed)
    with mute_signals():
        call_command("loaddata", "books", verbosity=0)
    assert saved.calls == []
    assert changed.calls == []
    assert Book.objects.get(title="The Dispossessed").tags.count() == 2
    Author.objects.create(name="After")
    assert [sender for sender, _ in saved.calls] == [Author]


@pytest.mark.django_db
def test_without_muting_the_fixture_fires_raw_saves_and_m2m_changes():
    with record_signals(signals.post_save, signals.m2m_changed) as recorder:
        call_command("loaddata", "books", verbosity=0)
    assert len(recorder.assert_sent(signals.post_save, raw=True)) == 6
    recorder.assert_sent(signals.m2m_changed, action="post_add", model=Tag, times=2)


@pytest.mark.django_db
def test_muted_signals_record_nothing():
    with (
        record_signals(signals.post_save, order_shipped) as recorder,
        mute_signals(signals.post_save, order_shipped),
    ):
        Author.objects.create(name="Ann")
        order_shipped.send("shop")
    assert recorder.sent == []


def test_mutes_nest_and_restore_the_previous_state():
    with mute_signals(signals.post_save):
        with mute_signals():
            assert signals.post_save.is_muted and signals.pre_save.is_muted
        assert signals.post_save.is_muted
        assert not signals.pre_save.is_muted
    assert not signals.post_save.is_muted


def test_mutes_may_end_in_any_order():
    first = mute_signals(signals.post_save, order_shipped).start()
    second = mute_signals(order_shipped).start()
    first.stop()
    assert order_shipped.is_muted
    assert not signals.post_save.is_muted
    second.stop()
    assert not order_shipped.is_muted


def test_a_mute_is_undone_when_the_block_raises():
    with pytest.raises(ZeroDivisionError), mute_signals(signals.pre_delete, order_shipped):
        1 / 0  # noqa: B018
    assert not signals.pre_delete.is_muted
    assert not order_shipped.is_muted


def test_a_signal_muted_before_stays_muted():
    with signals.post_save.muted():
        with mute_signals():
            pass
        assert signals.post_save.is_muted
    assert not signals.post_save.is_muted


def test_mute_signals_as_a_decorator():
    @mute_signals(order_shipped)
    def ship():
        assert order_shipped.is_muted
        return order_shipped.send("shop")

    assert ship() == []
    assert not order_shipped.is_muted


def test_mute_signals_as_a_decorator_of_a_coroutine_function():
    @mute_signals(order_shipped)
    async def ship():
        await asyncio.sleep(0)
        return order_shipped.send("shop"), order_shipped.is_muted

    assert asyncio.run(ship()) == ([], True)
    assert not order_shipped.is_muted


def test_stopping_a_mute_twice_is_harmless():
    mute = mute_signals(order_shipped).start()
    mute.stop()
    mute.stop()
    assert not order_shipped.is_muted


# Inline receivers -----------------------------------------------------------------------


@pytest.mark.django_db
def test_after_commit_receivers_run_inline_at_the_end_of_the_block():
    calls = Calls()
    after_commit.on_commit(signals.post_save, calls, sender=Author)
    try:
        Author.objects.create(name="Never committed")
        assert calls.calls == []
        with run_receivers_inline() as callbacks:
            author = Author.objects.create(name="Ann")
            assert calls.calls == []
        assert [(s, kw["instance"], kw["created"]) for s, kw in calls.calls] == [
            (Author, author, True)
        ]
        assert len(callbacks) == 1
    finally:
        after_commit.disconnect(signals.post_save, calls, sender=Author)


background_calls: list[tuple[object, dict[str, object]]] = []


def index_book(sender, **kwargs):
    """A module-level background receiver (every process knows it by its dotted name)."""
    background_calls.append((sender, kwargs))


@pytest.mark.django_db
def test_background_receivers_run_inline_instead_of_being_enqueued(monkeypatch):
    from django_blinker import background
    from tests.support.queues import RecordingBackend, use_backend

    queue = use_backend(monkeypatch, RecordingBackend())
    background_calls.clear()
    background.in_background(signals.post_save, index_book, sender=Book, backend="tasks")
    try:
        author = Author.objects.create(name="Frank")
        with TestCase.captureOnCommitCallbacks(execute=True):
            Book.objects.create(title="Queued", author=author)
        assert len(queue.payloads) == 1
        assert background_calls == []

        with run_receivers_inline():
            book = Book.objects.create(title="Inline", author=author)
            assert background_calls == []
        assert len(queue.payloads) == 1
        assert [(sender, kwargs["instance"]) for sender, kwargs in background_calls] == [
            (Book, book)
        ]
    finally:
        background.disconnect(signals.post_save, index_book, sender=Book, backend="tasks")


# unittest-style TestCase ----------------------------------------------------------------


# setUpTestData deep-copies what it stores on the class for each test: keep this outside.
saves_in_testcase = Calls()


class ToolkitInTestCaseTests(TestCase):
    @classmethod
    @mute_signals()
    def setUpTestData(cls):
        signals.post_save.connect(saves_in_testcase, sender=Book, weak=False)
        call_command("loaddata", "books", verbosity=0)
        cls.calls_while_loading = list(saves_in_testcase.calls)

    @classmethod
    def tearDownClass(cls):
        signals.post_save.disconnect(saves_in_testcase)
        super().tearDownClass()

    def setUp(self):
        saves_in_testcase.calls.clear()

    def test_fixture_was_loaded_without_firing_receivers(self):
        self.assertEqual(Book.objects.count(), 2)
        self.assertEqual(self.calls_while_loading, [])

    def test_assert_sent(self):
        dune = Book.objects.get(title="Dune")
        with assert_sent(signals.post_save, sender="testapp.Book", instance=dune, created=False):
            dune.save()
        self.assertEqual(len(saves_in_testcase.calls), 1)

    def test_recorder_and_failure_message(self):
        with record_signals(signals.m2m_changed, sender=Book.tags.through) as recorder:
            Book.objects.get(title="Dune").tags.clear()
        recorder.assert_sent_once(action="post_clear")
        with self.assertRaisesRegex(AssertionError, r"differs: action is 'post_clear', not"):
            recorder.assert_sent(action="post_add")
        self.assertFalse(signals.m2m_changed.is_hooked())

    def test_mute_signals(self):
        with mute_signals(signals.post_save):
            Book.objects.create(title="Muted", author=Author.objects.first())
        self.assertEqual(saves_in_testcase.calls, [])

    def test_run_receivers_inline(self):
        calls = Calls()
        after_commit.on_commit(signals.post_save, calls, sender=Author)
        self.addCleanup(after_commit.disconnect, signals.post_save, calls, sender=Author)
        with run_receivers_inline():
            Author.objects.create(name="Inline")
        self.assertEqual(len(calls.calls), 1)


def test_a_label_typo_fails_on_field_changed_and_bulk_signals_too():
    from django_blinker import bulk, field_changed

    for signal in (field_changed, bulk.post_bulk_create):
        with (
            pytest.raises(LookupError, match=r"did you mean 'testapp\.Book'"),
            assert_sent(signal, sender="testapp.Bok"),
        ):
            pass
