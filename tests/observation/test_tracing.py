"""django_blinker.observation.tracing: receiver calls as OpenTelemetry spans, in process and in
a real Celery worker.

In process, spans go to the SDK's ``InMemorySpanExporter``. The worker (tests/support/workers.py,
with tests/support/tracingapp installed by tests/support/worker_settings.py) pushes its finished
spans as
JSON to a Redis list that the test reads with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import time

import pytest
from django.core import checks
from django.db import transaction
from django.db.models import signals as django_signals
from django.test import override_settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from django_blinker import after_commit, background, extension, signals
from django_blinker.bridging import extension_points
from django_blinker.delivery import worker
from django_blinker.delivery.event import seal
from django_blinker.delivery.registrations import Registration
from django_blinker.observation import tracing
from tests.bridging.test_bridge_async import meeting
from tests.support import background_receivers as receivers
from tests.support import servers, workers
from tests.support.testapp.models import Author, Book

TRACING = override_settings(DJANGO_BLINKER={"TRACING": True})
RECEIVER = "tests.observation.test_tracing.saved"


@pytest.fixture(scope="module")
def exporter():
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    found = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(found))
    return found


@pytest.fixture
def spans(exporter):
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture
def traced():
    # Tracing follows the setting when plans are built: tests that build none refresh.
    with TRACING:
        tracing.refresh()
        yield
    tracing.refresh()


@pytest.fixture
def request_span():
    with trace.get_tracer("tests").start_as_current_span("GET /books/") as span:
        yield span


CALLS: list[str] = []


def saved(sender, instance, **kwargs):
    CALLS.append(instance.name)


def refusing(sender, instance, **kwargs):
    raise ValueError(f"refusing {instance.name}")


async def saved_async(sender, instance, **kwargs):
    await asyncio.sleep(0)
    CALLS.append(f"async {instance.name}")


@pytest.fixture
def connected():
    CALLS.clear()
    yield
    for receiver in (saved, refusing, saved_async):
        signals.post_save.disconnect(receiver)
    after_commit.disconnect(signals.post_save, saved)
    after_commit.disconnect(signals.post_save, refusing)


def receiver_spans(exporter, prefix="post_save tests."):
    return [span for span in exporter.get_finished_spans() if span.name.startswith(prefix)]


# In process ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_receiver_call_is_a_span_under_the_current_span(
    spans, traced, connected, request_span
):
    signals.post_save.connect(saved, sender=Author)
    Author.objects.create(name="Le Guin")
    [span] = receiver_spans(spans)
    assert span.name == f"post_save {RECEIVER}"
    assert dict(span.attributes) == {
        "django_blinker.signal": "post_save",
        "django_blinker.sender": "testapp.Author",
        "django_blinker.receiver": RECEIVER,
        "django_blinker.mode": "inline",
    }
    assert span.parent.span_id == request_span.get_span_context().span_id
    assert span.context.trace_id == request_span.get_span_context().trace_id
    assert span.status.status_code is StatusCode.UNSET
    assert CALLS == ["Le Guin"]


@pytest.mark.django_db(transaction=True)
def test_a_coroutine_receiver_is_a_span_around_its_await(spans, traced, connected, request_span):
    signals.post_save.connect(saved_async, sender=Author)
    Author.objects.create(name="Butler")
    [span] = receiver_spans(spans)
    assert span.name == "post_save tests.observation.test_tracing.saved_async"
    assert span.parent.span_id == request_span.get_span_context().span_id
    assert span.attributes["django_blinker.mode"] == "inline"
    assert CALLS == ["async Butler"]


def test_coroutine_receivers_run_together_are_spans_beside_each_other(
    spans, traced, connected, request_span
):
    first, second, met = meeting()
    signals.post_save.connect(first, sender=Author)
    signals.post_save.connect(second, sender=Author)

    async def send():
        await django_signals.post_save.asend(sender=Author, instance=None)
        return trace.get_current_span()

    assert asyncio.run(send()) is request_span
    assert sorted(met) == ["first", "second"]
    found = receiver_spans(spans, "post_save tests.bridging.test_bridge_async.")
    assert sorted(span.name for span in found) == [
        "post_save tests.bridging.test_bridge_async.first",
        "post_save tests.bridging.test_bridge_async.second",
    ]
    request = request_span.get_span_context()
    assert {(span.parent.span_id, span.context.trace_id) for span in found} == {
        (request.span_id, request.trace_id)
    }
    signals.post_save.disconnect(first)
    signals.post_save.disconnect(second)


@pytest.mark.django_db
def test_a_robust_failure_is_recorded_on_the_span_and_the_send_goes_on(
    spans, connected, request_span, caplog
):
    signals.post_save.connect(refusing, sender=Author)
    signals.post_save.connect(saved, sender=Author)
    with override_settings(DJANGO_BLINKER={"TRACING": True, "ROBUST": True}):
        Author.objects.create(name="Delany")
    failed, ok = receiver_spans(spans)
    assert failed.name == "post_save tests.observation.test_tracing.refusing"
    assert failed.status.status_code is StatusCode.ERROR
    [event] = failed.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "refusing Delany"
    assert ok.status.status_code is StatusCode.UNSET
    assert CALLS == ["Delany"]
    assert "refusing Delany" in caplog.text


@pytest.mark.django_db
def test_a_raising_receiver_without_robust_records_the_error_and_raises(
    spans, traced, connected, request_span
):
    signals.post_save.connect(refusing, sender=Author)
    with pytest.raises(ValueError, match="refusing Russ"):
        Author.objects.create(name="Russ")
    [span] = receiver_spans(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: refusing Russ"


@pytest.mark.django_db(transaction=True)
def test_an_after_commit_receiver_span_starts_at_commit_under_the_span_of_the_send(
    spans, traced, connected
):
    after_commit.on_commit(signals.post_save, saved, sender=Author)
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("GET /authors/") as request_span, transaction.atomic():
        with tracer.start_as_current_span("save the author") as sending_span:
            Author.objects.create(name="Tiptree")
        assert receiver_spans(spans) == []
        assert CALLS == []
    [span] = receiver_spans(spans)
    assert span.name == f"post_save {RECEIVER}"
    assert span.attributes["django_blinker.mode"] == "after_commit"
    assert span.attributes["django_blinker.sender"] == "testapp.Author"
    assert span.parent.span_id == sending_span.get_span_context().span_id
    assert span.context.trace_id == request_span.get_span_context().trace_id
    assert span.start_time > sending_span.end_time
    assert CALLS == ["Tiptree"]


@pytest.mark.django_db(transaction=True)
def test_an_after_commit_failure_is_recorded_on_its_span_and_logged(
    spans, traced, connected, request_span, caplog
):
    after_commit.on_commit(signals.post_save, refusing, sender=Author)
    with transaction.atomic():
        Author.objects.create(name="Wolfe")
    [span] = receiver_spans(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].attributes["exception.message"] == "refusing Wolfe"
    assert "after-commit receiver tests.observation.test_tracing.refusing" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_background_event_carries_the_trace_context_to_its_receiver_span(
    spans, traced, request_span
):
    receivers.CALLS.clear()
    background.in_background(signals.post_save, receivers.author_saved, backend="inline")
    try:
        with transaction.atomic():
            Author.objects.create(name="Vinge")
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    [span] = receiver_spans(spans)
    [call] = receivers.CALLS
    assert span.name == "post_save tests.support.background_receivers.author_saved"
    assert span.attributes["django_blinker.mode"] == "background"
    assert span.attributes["django_blinker.event"] == call["event"]
    assert span.parent.span_id == request_span.get_span_context().span_id


@pytest.mark.parametrize(
    "carried",
    [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        {"traceparent": 7},
        {f"key{n}": "x" for n in range(tracing.MAX_CARRIER_ENTRIES + 1)},
        {"traceparent": "x" * (tracing.MAX_CARRIER_VALUE + 1)},
    ],
    ids=["not a dict", "not str", "too many entries", "too long"],
)
@pytest.mark.django_db
def test_a_carried_context_of_the_wrong_shape_is_not_joined_and_the_receiver_runs(
    spans, traced, carried, caplog
):
    receivers.CALLS.clear()
    background.in_background(signals.post_save, receivers.author_saved, backend="inline")
    try:
        author = Author.objects.create(name="Sturgeon")
        wrapper = after_commit.wrapper_of(
            signals.post_save, receivers.author_saved, "background:inline:each"
        )
        payload = wrapper.payload(Author, {"instance": author, "created": True})
        payload["trace"] = carried
        with caplog.at_level(logging.WARNING, "django_blinker"):
            worker.deliver(seal(payload), in_worker=False)
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    [span] = receiver_spans(spans)
    assert span.parent is None
    assert span.attributes["django_blinker.event"] == payload["event"]
    # The event of the create waits for a commit that never comes (a test transaction).
    assert [call["name"] for call in receivers.CALLS] == ["Sturgeon"]
    assert f"Event {payload['event']}: its trace context is not a dict" in caplog.text


def test_a_valid_carrier_is_a_small_dict_of_str():
    assert tracing.valid_carrier({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    assert tracing.valid_carrier({})
    assert not tracing.valid_carrier([("traceparent", "x")])
    assert not tracing.valid_carrier({1: "x"})
    assert not tracing.valid_carrier({"": "x"})
    assert not tracing.valid_carrier({"k" * (tracing.MAX_CARRIER_KEY + 1): "x"})


def test_the_carrier_is_the_w3c_traceparent_of_the_current_span(traced, request_span):
    context = request_span.get_span_context()
    ids = f"{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert tracing.carrier() == {"traceparent": f"00-{ids}"}


# Quieter: exclusion and sampling ------------------------------------------------------


def quieter(**keys):
    """Tracing on with more keys; tracing follows them once plans are built or refreshed."""
    return override_settings(DJANGO_BLINKER={"TRACING": True, **keys})


@pytest.mark.parametrize("pattern", ["tests.observation.test_tracing.save*", "post_*", "*.saved"])
@pytest.mark.django_db
def test_an_excluded_receiver_is_not_wrapped_at_all(spans, connected, request_span, pattern):
    signals.post_save.connect(saved, sender=Author)
    signals.post_save.connect(refusing, sender=Book)
    with quieter(TRACING_EXCLUDE=["nothing.*", pattern]):
        tracing.refresh()
        plan = signals.post_save._plan(Author, exact=True, is_async=False)
        # The entry calls the receiver itself: what it costs with tracing off.
        assert [entry.call for entry in plan] == [None]
        Author.objects.create(name="Le Guin")
    tracing.refresh()
    assert CALLS == ["Le Guin"]
    assert receiver_spans(spans) == []


@pytest.mark.django_db
def test_receivers_that_no_pattern_matches_are_still_traced(spans, connected, request_span):
    signals.post_save.connect(saved, sender=Author)
    signals.post_save.connect(saved_async, sender=Author)
    with quieter(TRACING_EXCLUDE=["*.saved_async"]):
        tracing.refresh()
        Author.objects.create(name="Butler")
    tracing.refresh()
    assert [span.name for span in receiver_spans(spans)] == [f"post_save {RECEIVER}"]
    assert sorted(CALLS) == ["Butler", "async Butler"]


@pytest.mark.django_db(transaction=True)
def test_excluded_after_commit_and_background_receivers_have_no_span_and_carry_no_trace(
    spans, connected, request_span
):
    receivers.CALLS.clear()
    after_commit.on_commit(signals.post_save, saved, sender=Author)
    background.in_background(signals.post_save, receivers.author_saved, backend="inline")
    excluding = ["tests.observation.test_tracing.saved", "tests.support.background_receivers.*"]
    try:
        with quieter(TRACING_EXCLUDE=excluding):
            tracing.refresh()
            with transaction.atomic():
                author = Author.objects.create(name="Russ")
            wrapper = after_commit.wrapper_of(
                signals.post_save, receivers.author_saved, "background:inline:each"
            )
            assert "trace" not in wrapper.payload(Author, {"instance": author})
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
        tracing.refresh()
    assert CALLS == ["Russ"]
    assert [call["name"] for call in receivers.CALLS] == ["Russ"]
    assert receiver_spans(spans, prefix="post_save") == []


@pytest.mark.django_db
def test_a_sample_of_zero_traces_no_receiver_call_and_runs_every_one(
    spans, connected, request_span
):
    signals.post_save.connect(saved, sender=Author)
    with quieter(TRACING_SAMPLE=0):
        tracing.refresh()
        for number in range(20):
            Author.objects.create(name=f"author {number}")
    tracing.refresh()
    assert len(CALLS) == 20
    assert receiver_spans(spans) == []


@pytest.mark.django_db
def test_a_sample_of_a_half_traces_some_receiver_calls_not_all(spans, connected, request_span):
    signals.post_save.connect(saved, sender=Author)
    with quieter(TRACING_SAMPLE=0.5):
        tracing.refresh()
        for number in range(200):
            Author.objects.create(name=f"author {number}")
    tracing.refresh()
    assert len(CALLS) == 200
    # Drawn per call: all or none of 200 draws at one half is a chance of 2**-199.
    assert 0 < len(receiver_spans(spans)) < 200


@pytest.mark.django_db
def test_sampling_starts_no_span_under_a_parent_that_is_not_sampled(spans, connected):
    signals.post_save.connect(saved, sender=Author)
    unsampled = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=trace.TraceFlags(0),
        )
    )
    sampled = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    )
    with quieter(TRACING_SAMPLE=0.999999):
        tracing.refresh()
        assert tracing._sampled(trace.set_span_in_context(unsampled)) is False
        with trace.use_span(sampled):
            Author.objects.create(name="sampled parent")
        with trace.use_span(unsampled):
            Author.objects.create(name="unsampled parent")
    tracing.refresh()
    [span] = receiver_spans(spans)
    assert span.parent.span_id == 0xB7AD6B7169203331
    assert CALLS == ["sampled parent", "unsampled parent"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("TRACING_EXCLUDE", "post_init", "must be list or tuple, not str"),
        ("TRACING_EXCLUDE", ["post_init", ""], "every entry must be a name pattern (str"),
        ("TRACING_SAMPLE", 1.5, "expected a number from 0 to 1"),
        ("TRACING_SAMPLE", -0.1, "expected a number from 0 to 1"),
        ("TRACING_SAMPLE", "0.5", "must be int or float, not str"),
    ],
)
def test_quieter_tracing_settings_are_checked(key, value, expected):
    from django_blinker.checks import check_settings

    with override_settings(DJANGO_BLINKER={key: value}):
        [error] = check_settings()
    assert error.id == "django_blinker.E003"
    assert expected in error.msg


# Off ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_off_no_span_no_hook_and_no_trace_in_the_payload(spans, connected, request_span):
    signals.post_save.connect(saved, sender=Author)
    wrapper = background.BackgroundReceiver(
        signals.post_save, receivers.author_saved, "inline", False
    )
    with override_settings(DJANGO_BLINKER={"TRACING": False}):
        Author.objects.create(name="Cherryh")
        assert tracing.enabled is False
        assert [e.name for e in extension.installed()] == ["activity"]
        assert extension_points.at("commit") == ()
        assert [e.name for e in extension_points.at("worker")] == ["activity"]
        assert "trace" not in wrapper.payload(Author, {"created": True})
        assert tracing.carrier() is None
    assert receiver_spans(spans) == []
    assert CALLS == ["Cherryh"]


@pytest.mark.django_db
def test_without_opentelemetry_tracing_stays_off_and_the_check_warns(
    spans, connected, request_span, monkeypatch
):
    signals.post_save.connect(saved, sender=Author)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    tracing._opentelemetry.cache_clear()
    try:
        with TRACING:
            Author.objects.create(name="Zelazny")
            assert tracing.enabled is False
            [warning] = [m for m in checks.run_checks() if m.id == "django_blinker.W005"]
            assert "opentelemetry-api is not installed" in warning.msg
    finally:
        monkeypatch.undo()
        tracing._opentelemetry.cache_clear()
        tracing.refresh()
    assert receiver_spans(spans) == []
    assert CALLS == ["Zelazny"]


def test_with_opentelemetry_the_check_is_silent(traced):
    assert [m for m in checks.run_checks() if m.id == "django_blinker.W005"] == []


# A real Celery worker --------------------------------------------------------------------


@pytest.fixture(scope="module")
def traced_worker(worker_pool):
    key = workers.new_key("spans")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_BLINKER_TEST_SPANS_KEY", key)
        with worker_pool.celery("tracing") as events:
            patch.delenv("DJANGO_BLINKER_TEST_SPANS_KEY")
            yield events, key


def worker_spans(events, key, count, timeout=30.0):
    found = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not events.worker.alive():
            raise AssertionError(
                f"{len(found)} of {count} spans from the worker within {timeout}s:\n"
                f"{events.worker.tail()}"
            )
        item = events.redis.blpop([key], timeout=min(remaining, 1.0))
        if item is not None:
            found.append(json.loads(item[1]))
    return found


@pytest.mark.celery
@pytest.mark.serverdb
@pytest.mark.django_db(transaction=True)
def test_a_background_receiver_span_in_a_celery_worker_joins_the_request_trace(
    traced_worker, spans, traced
):
    events, key = traced_worker
    events.clear()
    events.redis.delete(key)
    background.in_background(signals.post_save, receivers.book_saved, backend="celery")
    background.in_background(signals.post_save, receivers.failing, backend="celery")
    try:
        author = Author.objects.create(name="Vinge")
        tracer = trace.get_tracer("tests")
        with tracer.start_as_current_span("POST /books/") as request_span, transaction.atomic():
            book = Book.objects.create(title="A Fire Upon the Deep", author=author)
        records = events.until("failing", pk=book.pk)
        by_receiver = {
            span["attributes"]["django_blinker.receiver"]: span
            for span in worker_spans(events, key, 2)
        }
    finally:
        background.disconnect(signals.post_save, receivers.book_saved)
        background.disconnect(signals.post_save, receivers.failing)
    context = request_span.get_span_context()
    [saved_record] = [r for r in records if r["receiver"] == "book_saved"]
    ran = by_receiver["tests.support.background_receivers.book_saved"]
    assert ran["name"] == "post_save tests.support.background_receivers.book_saved"
    assert ran["trace_id"] == f"{context.trace_id:032x}"
    assert ran["parent_id"] == f"{context.span_id:016x}"
    assert ran["attributes"] == {
        "django_blinker.signal": "post_save",
        "django_blinker.sender": "testapp.Book",
        "django_blinker.receiver": "tests.support.background_receivers.book_saved",
        "django_blinker.mode": "background",
        "django_blinker.event": saved_record["event"],
    }
    assert ran["status"] == "UNSET"
    assert ran["pid"] == saved_record["pid"] != os.getpid()
    failed = by_receiver["tests.support.background_receivers.failing"]
    assert failed["trace_id"] == f"{context.trace_id:032x}"
    assert failed["parent_id"] == f"{context.span_id:016x}"
    assert (failed["status"], failed["events"]) == ("ERROR", ["exception"])
    assert receiver_spans(spans) == []


def run_with_carrier(carrier_span, current_span):
    """The parent of a worker's receiver span for an event sent under ``carrier_span``,
    run while ``current_span`` is current."""
    with trace.use_span(carrier_span):
        payload = {"event": "e-1", "trace": tracing.carrier()}
    found = Registration("post_save", "x", receivers.author_saved)
    with trace.use_span(current_span):
        tracing._run_in_span(payload, found, lambda sender, **kwargs: None)(Author)


def test_a_task_span_of_the_same_trace_is_the_parent_in_the_worker(spans, traced, request_span):
    task_span = trace.get_tracer("tests").start_span("celery task")
    run_with_carrier(request_span, task_span)
    [span] = receiver_spans(spans, "post_save")
    assert span.parent.span_id == task_span.get_span_context().span_id


def test_a_current_span_of_another_trace_does_not_take_the_carried_parent(
    spans, traced, request_span
):
    other = trace.get_tracer("tests").start_span(
        "other", context=trace.set_span_in_context(trace.INVALID_SPAN)
    )
    assert other.get_span_context().trace_id != request_span.get_span_context().trace_id
    run_with_carrier(request_span, other)
    [span] = receiver_spans(spans, "post_save")
    assert span.parent.span_id == request_span.get_span_context().span_id
    assert span.context.trace_id == request_span.get_span_context().trace_id


# A real server and a real worker ---------------------------------------------------------


@pytest.fixture
def traced_server(traced_worker, django_db_blocker, tmp_path):
    """gunicorn on tests/support/tracing_server_settings.py, which pushes its spans to its own
    Redis list; yields the server and that list's key."""
    events, _ = traced_worker
    key = workers.new_key("server-spans")
    with django_db_blocker.unblock():
        env = workers.worker_env(
            DJANGO_SETTINGS_MODULE="tests.support.tracing_server_settings",
            DJANGO_BLINKER_TEST_SPANS_KEY=key,
        )
    server = servers.Server("gunicorn", env, tmp_path)
    server.start(ready_path="/ready/")
    try:
        yield server, key
    finally:
        server.stop()
        events.redis.delete(key)


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.serverdb
@pytest.mark.django_db(transaction=True)
def test_a_request_in_a_real_server_and_its_receivers_in_a_real_worker_are_one_trace(
    traced_worker, traced_server
):
    events, worker_key = traced_worker
    server, server_key = traced_server
    events.clear()
    events.redis.delete(worker_key)
    status, body = server.get("/books/new/")
    assert status == 200, f"/books/new/ answered {status} {body!r}:\n{server.tail()}"
    book = json.loads(body)["book"]
    # The server pushed its spans before it answered: each ends inside the request.
    served = [json.loads(item) for item in events.redis.lrange(server_key, 0, -1)]
    [request] = [span for span in served if span["name"] == "GET /books/new/"]
    trace_id = request["trace_id"]
    in_trace = {span["span_id"]: span for span in served if span["trace_id"] == trace_id}
    [record] = [r for r in events.until("book_saved", pk=book) if r["receiver"] == "book_saved"]
    [ran] = worker_spans(events, worker_key, 1)

    assert request["parent_id"] is None
    assert ran["name"] == "post_save tests.support.background_receivers.book_saved"
    assert ran["attributes"] == {
        "django_blinker.signal": "post_save",
        "django_blinker.sender": "testapp.Book",
        "django_blinker.receiver": "tests.support.background_receivers.book_saved",
        "django_blinker.mode": "background",
        "django_blinker.event": record["event"],
    }
    assert (ran["trace_id"], ran["parent_id"]) == (trace_id, request["span_id"])
    assert ran["pid"] == record["pid"] not in (request["pid"], os.getpid())
    by_name = {span["name"]: span for span in in_trace.values()}
    inline = by_name["post_save tests.support.tracingserverapp.web.book_saved_inline"]
    at_commit = by_name["post_save tests.support.tracingserverapp.web.book_saved_at_commit"]
    assert (inline["attributes"]["django_blinker.mode"], inline["parent_id"]) == (
        "inline",
        request["span_id"],
    )
    assert (at_commit["attributes"]["django_blinker.mode"], at_commit["parent_id"]) == (
        "after_commit",
        request["span_id"],
    )
    assert sorted(span["name"] for span in in_trace.values()) == [
        "GET /books/new/",
        # The view creates the book's author too.
        "post_save tests.support.tracingserverapp.web.author_saved_inline",
        "post_save tests.support.tracingserverapp.web.book_saved_at_commit",
        "post_save tests.support.tracingserverapp.web.book_saved_inline",
    ]
    assert {span["pid"] for span in in_trace.values()} == {request["pid"]}


# Forged trace context on a request --------------------------------------------------------

TRACE_ID = "4bf92f3577b34a0a9a1c2b3d4e5f6a7b"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
FORGED_HEADERS = {
    "malformed": ({"traceparent": "not a traceparent"}, None),
    "too long": ({"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01" + "x" * 7000}, None),
    "a future version with a short tail": (
        {"traceparent": f"01-{TRACE_ID}-{SPAN_ID}-01-future"},
        TRACE_ID,
    ),
    "a future version with a long tail": (
        {"traceparent": f"01-{TRACE_ID}-{SPAN_ID}-01-" + "x" * 7000},
        None,
    ),
    "version ff": ({"traceparent": f"ff-{TRACE_ID}-{SPAN_ID}-01"}, None),
    "all-zero trace id": ({"traceparent": f"00-{'0' * 32}-{SPAN_ID}-01"}, None),
    "all-zero span id": ({"traceparent": f"00-{TRACE_ID}-{'0' * 16}-01"}, None),
    "upper-case hex": ({"traceparent": f"00-{TRACE_ID.upper()}-{SPAN_ID}-01"}, None),
    "a huge tracestate": (
        {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01", "tracestate": "k=" + "v" * 7000},
        TRACE_ID,
    ),
    "many tracestate members": (
        {
            "traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01",
            "tracestate": ",".join(f"k{n}=v" for n in range(400)),
        },
        TRACE_ID,
    ),
    "a huge baggage": (
        {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01", "baggage": "k=" + "v" * 4000},
        TRACE_ID,
    ),
}


@pytest.fixture(scope="module")
def tracing_server(tmp_path_factory):
    """gunicorn on tests/support/tracing_server_settings.py over a SQLite file of its own (the view
    it serves reads no table); yields the server and the Redis list of its spans."""
    import redis

    directory = tmp_path_factory.mktemp("tracing-server")
    key = workers.new_key("forged-spans")
    env = servers.server_env(
        "tests.support.tracing_server_settings",
        DJANGO_BLINKER_DB="sqlite",
        DJANGO_BLINKER_WORKER_DB_NAME=str(directory / "default.sqlite3"),
        DJANGO_BLINKER_WORKER_OTHER_DB_NAME=str(directory / "other.sqlite3"),
        DJANGO_BLINKER_TEST_REDIS=workers.TEST_REDIS,
        DJANGO_BLINKER_TEST_SPANS_KEY=key,
    )
    server = servers.Server("gunicorn", env, directory)
    server.start(ready_path="/ready/")
    client = redis.Redis.from_url(workers.TEST_REDIS)
    try:
        yield server, client, key
    finally:
        server.stop()
        client.delete(key)


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("attack", list(FORGED_HEADERS))
def test_a_forged_trace_context_on_a_request_is_ignored_or_joined_never_carried_big(
    tracing_server, attack
):
    server, client, key = tracing_server
    headers, joined = FORGED_HEADERS[attack]
    client.delete(key)
    status, body = server.get("/authors/signal/", headers=headers)
    assert status == 200, f"{attack}: answered {status} {body!r}\n{server.tail()}"
    carrier = json.loads(body)["carrier"]
    assert tracing.valid_carrier(carrier)
    assert TRACEPARENT.fullmatch(carrier["traceparent"])
    assert len(json.dumps(carrier)) <= 1200
    served = [json.loads(item) for item in client.lrange(key, 0, -1)]
    [request] = [span for span in served if span["name"] == "GET /authors/signal/"]
    [receiver] = [span for span in served if span["name"].startswith("post_save ")]
    assert carrier["traceparent"][3:35] == request["trace_id"]
    if joined is None:
        assert request["parent_id"] is None
        assert request["trace_id"] != TRACE_ID
    else:
        assert (request["trace_id"], request["parent_id"]) == (joined, SPAN_ID)
    assert (receiver["trace_id"], receiver["parent_id"]) == (
        request["trace_id"],
        request["span_id"],
    )
    assert receiver["attributes"] == {
        "django_blinker.signal": "post_save",
        "django_blinker.sender": "testapp.Author",
        "django_blinker.receiver": "tests.support.tracingserverapp.web.author_saved_inline",
        "django_blinker.mode": "inline",
    }
    assert "ERROR" not in server.log() and "Traceback" not in server.log()
