"""django_blinker.background: connecting and disconnecting, delivery at commit, coalescing,
and what a worker makes of the messages (payloads and limits: test_receiver.py)."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from django_blinker import background, signals
from django_blinker.after_commit import on_commit, wrapper_of
from django_blinker.background import deliver, in_background, run_inline
from django_blinker.delivery.codec import encode
from django_blinker.delivery.event import SALT, seal
from django_blinker.delivery.worker import deliver_many
from tests.support import background_receivers as receivers
from tests.support.nesting import nest
from tests.support.queues import BrokenBackend, use_backend
from tests.support.testapp.models import Author, Book, Tag

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean")]


def author_message(event, receiver, instance):
    """A genuine message for ``receiver`` about ``instance`` (an Author or its encoding)."""
    return seal(
        {
            "version": 2,
            "event": event,
            "signal": "post_save",
            "receiver": f"tests.support.background_receivers.{receiver}",
            "sender": {"$class": "testapp.Author"},
            "kwargs": {
                "instance": instance if isinstance(instance, dict) else encode(instance),
                "using": "default",
            },
        }
    )


def test_a_missing_row_is_logged_and_the_receiver_skipped(caplog):
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="inline")
    message = author_message("e-1", "author_saved", {"$model": ["testapp.Author", 999999]})
    with caplog.at_level(logging.WARNING, logger="django_blinker"):
        assert deliver(message) is None
    assert receivers.CALLS == []
    assert "e-1" in caplog.text and "no longer exists" in caplog.text


def test_a_failing_receiver_is_logged_with_the_event_id_and_reraised(author, caplog):
    in_background(signals.post_save, receivers.failing, sender=Author, backend="inline")
    message = author_message("e-2", "failing", encode(author))
    with caplog.at_level(logging.ERROR, logger="django_blinker"), pytest.raises(ValueError):
        deliver(message)
    assert "Event e-2" in caplog.text
    assert "Traceback" in caplog.text
    assert "refuses" in caplog.text


# Connect-time refusals -------------------------------------------------------------------


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="'rq'"):
        in_background(signals.post_save, receivers.book_saved, backend="rq")


def test_an_unknown_configured_backend_is_improperly_configured(settings):
    settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "rq"}
    with pytest.raises(ImproperlyConfigured, match="'rq'"):
        in_background(signals.post_save, receivers.book_saved)


def test_an_unknown_key_lets_a_receiver_connect_and_refuses_its_first_send(settings):
    settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "inline", "OUTBX": True}
    in_background(signals.post_save, receivers.author_saved, sender=Author)
    with pytest.raises(ImproperlyConfigured, match="unknown key 'OUTBX'; did you mean 'OUTBOX'"):
        Author.objects.create(name="Le Guin")
    assert receivers.CALLS == []


def test_two_functions_under_one_receiver_id_are_refused(monkeypatch):
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="inline")

    def author_saved(sender, **kwargs):
        return None

    author_saved.__module__ = "tests.support.background_receivers"
    author_saved.__qualname__ = "author_saved"
    with pytest.raises(ValueError, match=r"'tests\.support\.background_receivers\.author_saved'"):
        in_background(signals.post_save, author_saved, sender=Author, backend="inline")


def test_a_message_for_a_receiver_this_process_did_not_connect_is_rejected(author, caplog):
    message = author_message("e-3", "author_saved", encode(author))
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        assert deliver(message) is None
    assert receivers.CALLS == []
    assert "Rejected background message (event e-3): no background receiver" in caplog.text


def test_disconnect_unregisters_the_worker_side_too(author, caplog):
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="inline")
    background.disconnect(signals.post_save, receivers.author_saved)
    message = author_message("e-4", "author_saved", encode(author))
    assert deliver(message) is None
    assert receivers.CALLS == []


# Payload and delivery --------------------------------------------------------------------


def test_inline_commit_runs_the_receiver_once_with_a_fetched_instance(author):
    in_background(signals.post_save, receivers.book_saved, sender=Book)
    with transaction.atomic():
        book = Book.objects.create(title="Earthsea", author=author)
        book.title = "Tehanu"
        book.save(update_fields=["title"])
        assert receivers.CALLS == []
    assert [(c["pk"], c["title"], c["created"]) for c in receivers.CALLS] == [
        (book.pk, "Tehanu", True),
        (book.pk, "Tehanu", False),
    ]
    assert receivers.CALLS[1]["update_fields"] == ["title"]
    assert receivers.CALLS[1]["update_fields_type"] == "frozenset"
    assert len({c["event"] for c in receivers.CALLS}) == 2


def test_inline_rollback_never_runs(author):
    in_background(signals.post_save, receivers.book_saved, sender=Book)
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="x", author=author)
        raise RuntimeError
    assert receivers.CALLS == []


def test_inline_savepoint_rollback_drops_its_events(author):
    in_background(signals.post_save, receivers.book_saved, sender=Book)
    with transaction.atomic():
        kept = Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
    assert [c["pk"] for c in receivers.CALLS] == [kept.pk]


def test_inline_outside_atomic_runs_at_once(author):
    in_background(signals.post_save, receivers.book_saved, sender=Book)
    book = Book.objects.create(title="x", author=author)
    assert [c["pk"] for c in receivers.CALLS] == [book.pk]


def test_cascade_and_queryset_delete_payloads(author):
    in_background(signals.pre_delete, receivers.book_deleted, sender=Book)
    Book.objects.create(title="one", author=author)
    Book.objects.create(title="two", author=author)
    with transaction.atomic():
        author.delete()
    assert sorted(c["title"] for c in receivers.CALLS) == ["one", "two"]
    assert {c["origin"] for c in receivers.CALLS} == {"testapp.Author"}


def test_m2m_pk_set_is_restored_as_a_set(author):
    in_background(signals.m2m_changed, receivers.tags_changed, sender=Book.tags.through)
    book = Book.objects.create(title="x", author=author)
    tags = [Tag.objects.create(name=f"t{n}") for n in range(3)]
    with transaction.atomic():
        book.tags.add(*tags)
        book.tags.clear()
    actions = [(c["action"], c["pk_set"], c["pk_set_type"]) for c in receivers.CALLS]
    pks = sorted(tag.pk for tag in tags)
    assert actions == [
        ("pre_add", pks, "set"),
        ("post_add", pks, "set"),
        ("pre_clear", None, "NoneType"),
        ("post_clear", None, "NoneType"),
    ]
    assert receivers.CALLS[0]["model"] == "testapp.Tag"


def test_run_inline_delivers_in_process_instead_of_enqueueing(monkeypatch, author):
    use_backend(monkeypatch, BrokenBackend())
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    with run_inline(), transaction.atomic():
        book = Book.objects.create(title="x", author=author)
    assert [c["pk"] for c in receivers.CALLS] == [book.pk]
    assert receivers.CALLS[0]["event"] is not None
    assert not background.is_inline()


def test_without_outbox_an_enqueue_failure_is_logged_loudly_and_later_callbacks_still_run(
    monkeypatch, author, caplog, settings
):
    settings.DJANGO_BLINKER = {"OUTBOX": False}
    use_backend(monkeypatch, BrokenBackend())
    failures = []

    def keep(sender, payload, error):
        failures.append((sender, payload["event"], str(error)))

    background.enqueue_failed.connect(keep)
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    after = []
    try:
        with caplog.at_level(logging.CRITICAL, logger="django_blinker"), transaction.atomic():
            book = Book.objects.create(title="committed", author=author)
            transaction.on_commit(lambda: after.append("ran"))
    finally:
        background.enqueue_failed.disconnect(keep)
    assert Book.objects.filter(pk=book.pk).exists()
    assert after == ["ran"]
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    [(sender, event, error)] = failures
    assert (sender, error) == ("celery", "broker down")
    assert event in record.getMessage()
    assert (
        "tests.support.background_receivers.book_saved of signal 'post_save'" in record.getMessage()
    )
    assert "$model" not in record.getMessage()


def test_a_thousand_saves_in_one_transaction(author):
    in_background(signals.post_save, receivers.book_saved, sender=Book)
    with transaction.atomic():
        books = [Book.objects.create(title=f"b{n}", author=author) for n in range(1000)]
        assert receivers.CALLS == []
    assert [c["pk"] for c in receivers.CALLS] == [book.pk for book in books]
    assert len({c["event"] for c in receivers.CALLS}) == 1000


def test_disconnect_stops_background_delivery(author):
    in_background(signals.post_save, receivers.book_saved, sender=Book)
    background.disconnect(signals.post_save, receivers.book_saved)
    Book.objects.create(title="x", author=author)
    assert receivers.CALLS == []
    assert not signals.post_save.is_hooked()


# Coalescing -------------------------------------------------------------------------------


def batch_pks(batch):
    return [payload["kwargs"]["instance"]["$model"][1] for payload in batch]


def test_coalesce_sends_one_job_per_transaction_in_order(backend, author):
    in_background(
        signals.post_save, receivers.book_saved, sender=Book, backend="celery", coalesce=True
    )
    with transaction.atomic():
        books = [Book.objects.create(title=f"b{n}", author=author) for n in range(3)]
        assert backend.batches == []
    with transaction.atomic():
        later = Book.objects.create(title="later", author=author)
    assert [batch_pks(batch) for batch in backend.batches] == [[b.pk for b in books], [later.pk]]
    assert backend.payloads == []
    assert len({p["event"] for batch in backend.batches for p in batch}) == 4


def test_coalesce_drops_events_of_a_rolled_back_savepoint(backend, author):
    in_background(
        signals.post_save, receivers.book_saved, sender=Book, backend="celery", coalesce=True
    )
    with transaction.atomic():
        first = Book.objects.create(title="first", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
        with transaction.atomic():
            inner = Book.objects.create(title="inner kept", author=author)
        last = Book.objects.create(title="last", author=author)
    assert [batch_pks(batch) for batch in backend.batches] == [[first.pk, inner.pk, last.pk]]


def test_coalesce_after_a_savepoint_rollback_of_the_last_event_keeps_earlier_ones(backend, author):
    in_background(
        signals.post_save, receivers.book_saved, sender=Book, backend="celery", coalesce=True
    )
    with transaction.atomic():
        first = Book.objects.create(title="first", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
        after = Book.objects.create(title="after", author=author)
    assert sorted(pk for batch in backend.batches for pk in batch_pks(batch)) == [
        first.pk,
        after.pk,
    ]


def test_coalesce_rollback_sends_nothing_and_the_next_transaction_starts_afresh(backend, author):
    in_background(
        signals.post_save, receivers.book_saved, sender=Book, backend="celery", coalesce=True
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="rolled back", author=author)
        raise RuntimeError
    assert backend.batches == []
    with transaction.atomic():
        book = Book.objects.create(title="committed", author=author)
    assert [batch_pks(batch) for batch in backend.batches] == [[book.pk]]


def test_coalesce_outside_atomic_sends_each_event_at_once(backend, author):
    in_background(
        signals.post_save, receivers.book_saved, sender=Book, backend="celery", coalesce=True
    )
    one = Book.objects.create(title="one", author=author)
    two = Book.objects.create(title="two", author=author)
    assert [batch_pks(batch) for batch in backend.batches] == [[one.pk], [two.pk]]


def test_coalesce_inline_delivers_every_event_in_order(author):
    in_background(signals.post_save, receivers.book_saved, sender=Book, coalesce=True)
    with transaction.atomic():
        books = [Book.objects.create(title=f"b{n}", author=author) for n in range(1000)]
        assert receivers.CALLS == []
    assert [c["pk"] for c in receivers.CALLS] == [b.pk for b in books]


def test_deliver_many_goes_on_after_a_failure(author, caplog):
    for name in ("failing", "author_saved"):
        in_background(signals.post_save, getattr(receivers, name), sender=Author, backend="inline")
    messages = [
        author_message(f"e-{n}", name, author) for n, name in enumerate(["failing", "author_saved"])
    ]
    failed = deliver_many(messages)
    assert [(m, type(e)) for m, e in failed] == [(messages[0], ValueError)]
    assert [c["receiver"] for c in receivers.CALLS] == ["failing", "author_saved"]


def test_a_batch_ends_at_its_first_message_not_signed_here(author, caplog):
    """One signer writes a whole batch: past a forgery, 10,000 more entries are refused
    unread, in one line, instead of one ERROR each."""
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="inline")
    genuine = [author_message(f"e-{n}", "author_saved", author) for n in range(2)]
    forged = genuine[1][:-1] + ("A" if genuine[1][-1] != "A" else "B")
    with caplog.at_level(logging.ERROR, "django_blinker"):
        failed = deliver_many([genuine[0], forged, *[genuine[1]] * 10_000])
    assert failed == []
    assert [c["event"] for c in receivers.CALLS] == ["e-0"]
    assert [record.getMessage() for record in caplog.records] == [
        "Rejected background message (event e-1): bad signature",
        "Rejected background batch: message 2 of 10002 was not signed here; the 10000 "
        "after it are refused unread",
    ]


# Commit callbacks isolated --------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["robust-off", "robust-on"])
def robust(request, settings):
    settings.DJANGO_BLINKER = {"ROBUST": request.param}
    return request.param


def test_a_failing_after_commit_receiver_never_stops_a_later_enqueue(
    robust, backend, author, caplog
):
    on_commit(signals.post_save, receivers.failing, sender=Book)
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    try:
        with caplog.at_level(logging.ERROR, logger="django_blinker"), transaction.atomic():
            book = Book.objects.create(title="kept", author=author)
    finally:
        from django_blinker import after_commit

        after_commit.disconnect(signals.post_save, receivers.failing)
    assert [c["receiver"] for c in receivers.CALLS] == ["failing"]
    assert [p["kwargs"]["instance"] for p in backend.payloads] == [
        {"$model": ["testapp.Book", book.pk]}
    ]
    assert "tests.support.background_receivers.failing" in caplog.text
    assert f"failing receiver refuses {book.pk}" in caplog.text


def test_a_failing_inline_receiver_stays_inside_commit_and_a_later_enqueue_happens(
    robust, backend, author, caplog
):
    in_background(signals.post_save, receivers.failing, sender=Book, backend="inline")
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    with caplog.at_level(logging.ERROR, logger="django_blinker"), transaction.atomic():
        book = Book.objects.create(title="kept", author=author)
    assert Book.objects.filter(pk=book.pk).exists()
    assert [c["receiver"] for c in receivers.CALLS] == ["failing"]
    assert len(backend.payloads) == 1
    assert "inline background receiver tests.support.background_receivers.failing" in caplog.text


def test_a_failing_publish_never_stops_a_later_after_commit_receiver(robust, monkeypatch, author):
    use_backend(monkeypatch, BrokenBackend())
    in_background(signals.post_save, receivers.author_saved, sender=Book, backend="celery")
    on_commit(signals.post_save, receivers.book_saved, sender=Book)
    try:
        with transaction.atomic():
            book = Book.objects.create(title="kept", author=author)
    finally:
        from django_blinker import after_commit

        after_commit.disconnect(signals.post_save, receivers.book_saved)
    assert [(c["receiver"], c["pk"]) for c in receivers.CALLS] == [("book_saved", book.pk)]


# Messages a worker rejects ---------------------------------------------------------------


def test_a_claimed_event_id_with_a_newline_cannot_fake_a_log_line(caplog):
    forged = {"version": 1, "event": "x\nRejected background message (event 1): fake"}
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        assert deliver(forged) is None
    [record] = caplog.records
    assert "\n" not in record.getMessage()


@pytest.mark.parametrize(
    "message",
    [
        '{"version": 2, "event": "6e1c7a4e-claimed", "receiver": "os.system"}',
        '{"version": 2, "event": "6e1c7a4e-claimed"}:forged-signature',
        {"version": 2, "event": "6e1c7a4e-claimed"},
    ],
)
def test_an_unsigned_message_is_logged_with_the_event_it_claims(message, caplog):
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        assert deliver(message) is None
    [record] = caplog.records
    assert record.getMessage().startswith("Rejected background message (event 6e1c7a4e-claimed)")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"version": 2, "event": "e", "signal": "post_save", "receiver": "r", '
        '"sender": null, "kwargs": []}',
    ],
)
def test_a_signed_but_malformed_message_is_rejected(text, caplog):
    from django.core import signing

    from django_blinker.delivery.event import SALT

    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        assert deliver(signing.TimestampSigner(salt=SALT).sign(text)) is None
    [record] = caplog.records
    assert record.getMessage().startswith("Rejected background message")


# Once per event --------------------------------------------------------------------------


def event_message(receiver, instance):
    found = wrapper_of(signals.post_save, receiver, "background:inline:each")
    return seal(found.payload(Author, {"instance": instance, "created": True, "using": "default"}))


def test_once_per_event_runs_a_redelivered_event_once(author):
    in_background(signals.post_save, receivers.tag_once, sender=Author, backend="inline")
    try:
        message = event_message(receivers.tag_once, author)
        deliver(message)
        deliver(message)
        deliver(event_message(receivers.tag_once, author))
    finally:
        background.disconnect(signals.post_save, receivers.tag_once)
    assert Tag.objects.filter(name__startswith="once ").count() == 2
    assert [c["receiver"] for c in receivers.CALLS] == ["tag_once", "tag_once"]


def test_once_per_event_forgets_a_run_that_failed_and_its_writes(author):
    author.name = "flaky once"
    author.save()
    in_background(signals.post_save, receivers.tag_once, sender=Author, backend="inline")
    try:
        message = event_message(receivers.tag_once, author)
        with pytest.raises(background.Retry):
            deliver(message)
        assert not Tag.objects.filter(name__startswith="once ").exists()
        deliver(message)
        deliver(message)
    finally:
        background.disconnect(signals.post_save, receivers.tag_once)
    assert Tag.objects.filter(name__startswith="once ").count() == 1
    assert len(receivers.CALLS) == 2


def test_once_per_event_outside_a_delivery_just_calls(author):
    receivers.tag_once(Author, instance=author)
    assert Tag.objects.filter(name="once none").count() == 1


def test_a_module_run_again_replaces_its_receiver_instead_of_clashing(author):
    import types

    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="inline")
    original = receivers.author_saved
    again = types.FunctionType(original.__code__, original.__globals__, "author_saved")
    again.__qualname__ = original.__qualname__
    try:
        in_background(signals.post_save, again, sender=Author, backend="inline")
        from django_blinker.delivery.registrations import registration

        found = registration("post_save", "tests.support.background_receivers.author_saved")
        assert found.receiver is again
    finally:
        background.disconnect(signals.post_save, again)


def test_an_unconfigured_celery_app_is_refused_loudly_not_published_to_localhost(
    author, caplog, settings
):
    from celery import Celery

    settings.DJANGO_BLINKER = {"OUTBOX": False}
    fallback = Celery("default", fixups=[], set_as_current=False)
    from celery import _state

    previous = _state.get_current_app()
    fallback.set_current()
    failures = []

    def keep(sender, payload, error):
        failures.append(str(error))

    background.enqueue_failed.connect(keep)
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    try:
        with caplog.at_level(logging.CRITICAL, logger="django_blinker"), transaction.atomic():
            Author.objects.create(name="x")
    finally:
        previous.set_current()
        background.enqueue_failed.disconnect(keep)
    [error] = failures
    assert "no Celery app is configured in this process" in error
    assert "could not be enqueued on celery" in caplog.text


def test_background_imports_before_the_app_registry_is_ready():
    import os
    import subprocess
    import sys

    code = "import django_blinker.background, django_blinker.backends.django_tasks; print('ok')"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.support.settings"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# What a worker makes of a message past the limits -----------------------------------------


def forged(event, kwargs, **fields):
    """A message signed with the tests' SECRET_KEY, as only a process that knows it can
    write, for ``author_saved``."""
    return seal(
        {
            "version": 2,
            "event": event,
            "signal": "post_save",
            "receiver": "tests.support.background_receivers.author_saved",
            "sender": {"$class": "testapp.Author"},
            "kwargs": kwargs,
            **fields,
        }
    )


def rejection(caplog):
    [record] = [r for r in caplog.records if r.getMessage().startswith("Rejected")]
    return record.getMessage()


@pytest.fixture
def listened(author):
    """``author``, saved before ``author_saved`` is connected to run in the worker."""
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="inline")
    return author


def test_a_worker_rejects_a_message_past_the_size_before_it_checks_the_signature(listened, caplog):
    event = str(uuid.uuid4())
    instance = encode(listened)
    message = forged(event, {"instance": instance, "note": "x" * 1_048_576})
    tampered = message[:-5] + "AAAAA"
    for sent in (message, tampered):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="django_blinker"):
            assert deliver(sent) is None
        assert rejection(caplog) == (
            f"Rejected background message (event {event}): a message of {len(message):,} bytes "
            "or more, over DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] = 1048576: not read"
        )
    assert receivers.CALLS == []


def test_a_worker_rejects_json_too_deep_to_parse_before_parsing_it(listened, caplog):
    event = str(uuid.uuid4())
    text = json.dumps({"version": 2, "event": event}, separators=(",", ":"))
    text = text[:-1] + ',"kwargs":' + "[" * 100_000 + "]" * 100_000 + "}"
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        assert deliver(signing.TimestampSigner(salt=SALT).sign(text)) is None
    assert rejection(caplog) == (
        f"Rejected background message (event {event}): JSON nested 100001 levels deep, deeper "
        "than any event within DJANGO_BLINKER['PAYLOAD_MAX_DEPTH'] = 32 can be (100): not parsed"
    )
    assert "RecursionError" not in caplog.text


def test_a_worker_rejects_a_value_past_the_depth_and_runs_one_at_it(listened, caplog):
    instance = encode(listened)
    deep, at_limit = str(uuid.uuid4()), str(uuid.uuid4())
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        assert deliver(forged(deep, {"instance": instance, "lines": [nest(32)]})) is None
        deliver(forged(at_limit, {"instance": instance, "lines": nest(32)}))
    assert rejection(caplog) == (
        f"Rejected background message (event {deep}): lines nested more than 32 containers "
        "deep, or containing itself (DJANGO_BLINKER['PAYLOAD_MAX_DEPTH'] = 32) "
        "(receiver tests.support.background_receivers.author_saved of signal 'post_save')"
    )
    assert [c["event"] for c in receivers.CALLS] == [at_limit]


@pytest.mark.parametrize("attack", ["oversize", "overdeep", "json-too-deep", "other-model"])
def test_a_rejected_outbox_event_is_never_confirmed(listened, caplog, attack):
    """So the relay publishes it again until it is dead-lettered, where the admin shows it."""
    from django_blinker.models import OutboxEvent

    event = str(uuid.uuid4())
    instance = encode(listened)
    kwargs = {
        "oversize": {"instance": instance, "note": "x" * 1_048_576},
        "overdeep": {"instance": instance, "lines": [nest(32)]},
        "json-too-deep": {"instance": instance, "lines": {"$set": nest(200)}},
        "other-model": {"instance": {"$model": ["auth.User", 1]}},
    }[attack]
    message = forged(event, kwargs, outbox="default")
    OutboxEvent.objects.bulk_create(
        [OutboxEvent(id=event, signal="post_save", receiver="r", backend="celery", message=message)]
    )
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        assert deliver(message) is None
    assert rejection(caplog).startswith(f"Rejected background message (event {event}): ")
    assert OutboxEvent.objects.get(pk=event).confirmed_at is None
    assert receivers.CALLS == []


class _ThreadBackend:
    """Keeps what it is handed, on django-blinker's publishing threads."""

    BOUNDED = True

    def __init__(self):
        self.envelopes = []

    def prepare(self, envelopes, batch):
        return lambda: self.envelopes.extend(envelopes)


# The fork is the point (a prefork worker's child), and the child only publishes and exits.
@pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
)
def test_publishing_threads_are_reused_and_a_forked_child_starts_its_own(monkeypatch, settings):
    import os
    import threading

    from django_blinker.background import publishing
    from django_blinker.delivery.event import Event

    settings.DJANGO_BLINKER = {"PUBLISH_TIMEOUT": 2}
    backend = use_backend(monkeypatch, _ThreadBackend())
    payload = {"version": 2, "event": str(uuid.uuid4()), "signal": "x", "receiver": "y"}
    envelope = Event(payload["event"], "x", "y", seal(payload))

    def publishing_threads():
        return [t for t in threading.enumerate() if t.name == "django_blinker_publish"]

    publishing.publish("celery", [envelope])
    before = publishing_threads()
    for _ in range(5):
        publishing.publish("celery", [envelope])
    assert publishing_threads() == before
    assert len(backend.envelopes) == 6
    child = os.fork()
    if child == 0:
        try:
            publishing.publish("celery", [envelope])
        except BaseException:
            os._exit(1)
        os._exit(0)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
