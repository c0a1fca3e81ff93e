"""django_blinker.after_commit: receivers that run once the sending transaction commits."""

from __future__ import annotations

import gc
import inspect
import logging

import pytest
from blinker import ANY, Signal
from django.db import transaction

from django_blinker import signals
from django_blinker.after_commit import disconnect, on_commit, wrapper_of
from tests.support import background_receivers as receivers
from tests.support.testapp.models import Author, Book, ProxyBook

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean():
    receivers.CALLS.clear()
    yield
    for signal in (signals.post_save, signals.post_delete, signals.m2m_changed):
        for receiver in (receivers.book_saved, receivers.author_saved, receivers.book_deleted):
            disconnect(signal, receiver)
    receivers.CALLS.clear()


def saved_pks():
    return [call["pk"] for call in receivers.CALLS if call["receiver"] == "book_saved"]


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


def test_commit_runs_the_receiver_once_after_commit(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    with transaction.atomic():
        book = Book.objects.create(title="Earthsea", author=author)
        assert receivers.CALLS == []
    assert saved_pks() == [book.pk]
    assert receivers.CALLS[0]["title_in_db"] == "Earthsea"


def test_rollback_never_runs_the_receiver(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="Earthsea", author=author)
        raise RuntimeError("roll back")
    assert receivers.CALLS == []


def test_savepoint_rollback_drops_only_its_calls(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    with transaction.atomic():
        kept = Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError("roll back the savepoint")
        after = Book.objects.create(title="after", author=author)
    assert saved_pks() == [kept.pk, after.pk]


def test_outside_atomic_runs_at_once(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    book = Book.objects.create(title="Earthsea", author=author)
    assert saved_pks() == [book.pk]


def test_nested_atomic_runs_after_the_outermost_commit(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    with transaction.atomic():
        with transaction.atomic():
            Book.objects.create(title="inner", author=author)
        assert receivers.CALLS == []
    assert len(saved_pks()) == 1


def test_sender_filter_applies(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    with transaction.atomic():
        Author.objects.create(name="not a book")
        book = Book.objects.create(title="a book", author=author)
    assert saved_pks() == [book.pk]


def test_lazy_label_sender(author):
    on_commit(signals.post_save, receivers.book_saved, sender="testapp.Book")
    with transaction.atomic():
        Author.objects.create(name="not a book")
        book = Book.objects.create(title="a book", author=author)
    assert saved_pks() == [book.pk]
    disconnect(signals.post_save, receivers.book_saved, sender="testapp.Book")
    Book.objects.create(title="not heard", author=author)
    assert saved_pks() == [book.pk]


def test_proxy_sender_is_its_own_sender(author):
    on_commit(signals.post_save, receivers.book_saved, sender=ProxyBook)
    with transaction.atomic():
        Book.objects.create(title="plain", author=author)
        proxy = ProxyBook.objects.create(title="proxy", author=author)
    assert saved_pks() == [proxy.pk]


def test_decorator_returns_the_receiver_and_connects_it(author):
    def local(sender, instance, **kwargs):
        receivers.CALLS.append({"receiver": "local", "pk": instance.pk})

    decorated = on_commit(signals.post_save, sender=Author)(local)
    assert decorated is local
    with transaction.atomic():
        Author.objects.create(name="x")
        assert receivers.CALLS == []
    assert [call["receiver"] for call in receivers.CALLS] == ["local"]
    disconnect(signals.post_save, local)


def test_wrapper_survives_garbage_collection(author):
    on_commit(signals.post_save, receivers.author_saved, sender=Author)
    gc.collect()
    Author.objects.create(name="still heard")
    assert [call["name"] for call in receivers.CALLS] == ["still heard"]


def test_wrapper_exposes_the_receiver_and_its_mode():
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    wrapper = wrapper_of(signals.post_save, receivers.book_saved, "after_commit")
    assert wrapper is not None
    assert wrapper.__wrapped__ is receivers.book_saved
    assert inspect.unwrap(wrapper) is receivers.book_saved
    assert wrapper.django_blinker_mode == "after_commit"
    assert wrapper.__qualname__ == "book_saved"
    assert [c.receiver for c in signals.post_save.connections()] == [wrapper]


def test_connecting_twice_keeps_one_wrapper_for_every_sender(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    on_commit(signals.post_save, receivers.book_saved, sender=ProxyBook)
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    assert len({id(c.receiver) for c in signals.post_save.connections()}) == 1
    with transaction.atomic():
        Book.objects.create(title="a", author=author)
        ProxyBook.objects.create(title="b", author=author)
    assert len(saved_pks()) == 2


def test_disconnect_by_the_original_receiver_for_one_sender(author):
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    on_commit(signals.post_save, receivers.book_saved, sender=ProxyBook)
    disconnect(signals.post_save, receivers.book_saved, sender=Book)
    Book.objects.create(title="not heard", author=author)
    proxy = ProxyBook.objects.create(title="heard", author=author)
    assert saved_pks() == [proxy.pk]
    disconnect(signals.post_save, receivers.book_saved)
    ProxyBook.objects.create(title="not heard either", author=author)
    assert saved_pks() == [proxy.pk]
    assert not signals.post_save.is_hooked()
    assert wrapper_of(signals.post_save, receivers.book_saved, "after_commit") is None


def test_a_signal_without_using_commits_on_the_default_database(author):
    custom = Signal()
    on_commit(custom, receivers.author_saved)
    with transaction.atomic():
        custom.send("me", instance=author)
        assert receivers.CALLS == []
    assert [call["name"] for call in receivers.CALLS] == ["Le Guin"]
    disconnect(custom, receivers.author_saved)
    assert not custom.receivers


def test_delete_receivers_run_after_the_row_is_gone(author):
    on_commit(signals.post_delete, receivers.book_deleted, sender=Book)
    book = Book.objects.create(title="gone", author=author)
    with transaction.atomic():
        book.delete()
        assert receivers.CALLS == []
    [call] = receivers.CALLS
    assert call["title"] == "gone"
    assert call["row_exists"] is False


def test_async_receiver_runs_at_commit(author):
    on_commit(signals.post_save, receivers.async_book_saved, sender=Book)
    try:
        with transaction.atomic():
            book = Book.objects.create(title="async", author=author)
            assert receivers.CALLS == []
        assert [(c["receiver"], c["pk"]) for c in receivers.CALLS] == [
            ("async_book_saved", book.pk)
        ]
    finally:
        disconnect(signals.post_save, receivers.async_book_saved)


def test_an_exception_at_commit_is_logged_never_raised_and_later_callbacks_run(author, caplog):
    on_commit(signals.post_save, receivers.failing, sender=Book)
    after = []
    try:
        with caplog.at_level(logging.ERROR, logger="django_blinker"), transaction.atomic():
            book = Book.objects.create(title="committed anyway", author=author)
            transaction.on_commit(lambda: after.append("ran"))
        assert Book.objects.filter(pk=book.pk).exists()
    finally:
        disconnect(signals.post_save, receivers.failing)
    assert after == ["ran"]
    assert f"failing receiver refuses {book.pk}" in caplog.text


def test_run_receivers_inline_reraises_what_a_receiver_raised_once_all_ran(author):
    from django_blinker.testing import run_receivers_inline

    on_commit(signals.post_save, receivers.failing, sender=Book)
    after = []
    try:
        with pytest.raises(ValueError, match="refuses"), run_receivers_inline():
            Book.objects.create(title="x", author=author)
            transaction.on_commit(lambda: after.append("ran"))
    finally:
        disconnect(signals.post_save, receivers.failing)
    assert after == ["ran"]


def test_robust_logs_the_exception_at_commit(author, settings, caplog):
    settings.DJANGO_BLINKER = {"ROBUST": True}
    on_commit(signals.post_save, receivers.failing, sender=Book)
    try:
        with caplog.at_level(logging.ERROR, logger="django_blinker"), transaction.atomic():
            Book.objects.create(title="x", author=author)
        assert "tests.support.background_receivers.failing" in caplog.text
        assert "refuses" in caplog.text
    finally:
        disconnect(signals.post_save, receivers.failing)


def test_non_callable_is_a_type_error():
    with pytest.raises(TypeError, match="must be callable"):
        on_commit(signals.post_save, "nope", sender=ANY)  # type: ignore[call-overload]
