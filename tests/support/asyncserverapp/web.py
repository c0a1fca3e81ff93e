"""Two coroutine receivers of request_started that each wait for the other to have started
(``BOUND`` seconds at most), and a view that answers which of them met the other.

ASGIHandler sends request_started with Django's ``asend()``: both are called through the
bridge's async hook, and meet only if it runs them together.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

BOUND = 10.0
ARRIVED = "django_blinker.test.arrived"
MET = "django_blinker.test.met"


async def _meet(scope: dict[str, Any], name: str, other: str) -> None:
    arrived = scope.setdefault(ARRIVED, {"first": asyncio.Event(), "second": asyncio.Event()})
    arrived[name].set()
    await asyncio.wait_for(arrived[other].wait(), BOUND)
    scope.setdefault(MET, []).append(name)


async def first_in(sender: Any, scope: dict[str, Any], **kwargs: Any) -> None:
    await _meet(scope, "first", "second")


async def second_in(sender: Any, scope: dict[str, Any], **kwargs: Any) -> None:
    await _meet(scope, "second", "first")


def served(request: HttpRequest, label: str) -> HttpResponse:
    met = sorted(request.scope.get(MET, []))  # type: ignore[attr-defined]
    return HttpResponse(f"{label}: {' '.join(met)}\n", content_type="text/plain")


urlpatterns = [path("served/<slug:label>/", served)]
