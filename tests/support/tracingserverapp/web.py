"""URLs, view, middleware and receivers of the tracing server
(tests/support/tracing_server_settings.py).

:func:`request_span` stands in for opentelemetry-instrumentation-django: one server span
per request, current while the view runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from opentelemetry import propagate, trace


def request_span(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    tracer = trace.get_tracer("tests.support.tracingserverapp")

    def middleware(request: HttpRequest) -> HttpResponse:
        # The incoming traceparent, tracestate and baggage, as an instrumentation reads them.
        incoming = propagate.extract({key.lower(): value for key, value in request.headers.items()})
        with tracer.start_as_current_span(
            f"{request.method} {request.path}", context=incoming, kind=trace.SpanKind.SERVER
        ) as span:
            response = get_response(request)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    return middleware


def ready(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ready\n", content_type="text/plain")


def save_book(request: HttpRequest) -> HttpResponse:
    """Saves an author and a book in one transaction; answers the book's pk as JSON."""
    from tests.support.testapp.models import Author, Book

    with transaction.atomic():
        author = Author.objects.create(name="Vinge")
        book = Book.objects.create(title="A Deepness in the Sky", author=author)
    return HttpResponse(json.dumps({"book": book.pk}), content_type="application/json")


def author_signal(request: HttpRequest) -> HttpResponse:
    """Sends post_save for Author (no row, no transaction) to its inline receiver; answers
    the trace context a background event sent now would carry."""
    from django.db.models.signals import post_save

    from django_blinker.observation import tracing
    from tests.support.testapp.models import Author

    post_save.send(sender=Author, instance=None, created=False)
    return HttpResponse(json.dumps({"carrier": tracing.carrier()}), content_type="application/json")


def author_saved_inline(sender: Any, **kwargs: Any) -> None:
    """Connected inline for Author: the test reads only its span."""


def book_saved_inline(sender: Any, **kwargs: Any) -> None:
    """Connected inline: the test reads only its span."""


def book_saved_at_commit(sender: Any, **kwargs: Any) -> None:
    """Connected with ``after_commit.on_commit``: the test reads only its span."""


urlpatterns = [
    path("ready/", ready),
    path("books/new/", save_book),
    path("authors/signal/", author_signal),
]
