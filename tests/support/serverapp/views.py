from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def served(request: HttpRequest, label: str) -> HttpResponse:
    return HttpResponse(f"served {label}\n", content_type="text/plain")
