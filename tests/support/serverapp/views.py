from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def served(request: HttpRequest, label: str) -> HttpResponse:
    return HttpResponse(f"served {label}\n", content_type="text/plain")


def save_author(request: HttpRequest, name: str) -> HttpResponse:
    """Saves an Author in a transaction, from a sync view."""
    from django.db import transaction

    from tests.support.testapp.models import Author

    with transaction.atomic():
        Author.objects.create(name=name)
    return HttpResponse(f"saved {name}\n", content_type="text/plain")


async def asave_author(request: HttpRequest, name: str) -> HttpResponse:
    """Saves an Author from an async view (``acreate``), outside any transaction."""
    from tests.support.testapp.models import Author

    await Author.objects.acreate(name=name)
    return HttpResponse(f"saved {name}\n", content_type="text/plain")
