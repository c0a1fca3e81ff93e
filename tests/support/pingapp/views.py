from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from tests.support.pingapp import receivers
from tests.support.pingapp.signals import pinged


def ready(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ready\n", content_type="text/plain")


def ping(request: HttpRequest) -> HttpResponse:
    before = len(receivers.calls)
    pinged.send(sender=None)
    ran = len(receivers.calls) - before
    return HttpResponse(f"pinged: {ran} receiver(s) ran\n", content_type="text/plain")
