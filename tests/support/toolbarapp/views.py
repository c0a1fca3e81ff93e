from __future__ import annotations

import contextlib

from asgiref.sync import sync_to_async
from django.db import transaction
from django.http import HttpResponse

from tests.support.testapp.models import Author, Book
from tests.support.toolbarapp.signals import audit, order_placed

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Saved</title></head>
<body><h1 id="saved">Saved {title}</h1></body></html>"""


def show_toolbar(request):
    return True


def save_book(request):
    with transaction.atomic():
        author = Author.objects.create(name="Ursula")
        book = Book.objects.create(title="The Dispossessed", author=author)
    order_placed.send("shop", amount=12)
    with contextlib.suppress(ValueError):
        audit.send(book, action="saved")
    return HttpResponse(PAGE.format(title=book.title))


async def announce(request):
    await order_placed.send_async("shop", amount=1, _sync_wrapper=sync_to_async)
    return HttpResponse(PAGE.format(title="nothing"))
