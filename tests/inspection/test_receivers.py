"""Receivers read from Django's records, in the shapes of Django 5.2 and 6.x."""

from __future__ import annotations

import functools
import weakref

import pytest
from django.db.models.signals import ModelSignal
from django.dispatch import Signal as DjangoSignal

from django_blinker import inspection
from tests.support.testapp.models import Book, Tag


def native_handler(sender, **kwargs):
    return None


@pytest.mark.parametrize("version", ["5.2", "6.x"])
def test_both_receiver_record_shapes_are_understood(version):
    signal = ModelSignal(use_caching=True)
    strong = functools.partial(native_handler)
    records = []
    for receiver, sender, weak in (
        (native_handler, Book, True),
        (strong, None, False),
    ):
        target = weakref.ref(receiver) if weak else receiver
        key = (id(receiver), id(sender))
        if version == "5.2":
            records.append((key, target, False))
        else:
            sender_ref = weakref.ref(sender) if sender is not None else None
            records.append((key, target, sender_ref, False))
    signal.receivers = records
    infos, hooked = inspection.receivers.django_receivers(
        signal, inspection.receivers.SenderNames()
    )
    assert not hooked
    assert [(i.name, i.sender, i.sender_model, i.weak) for i in infos] == [
        ("tests.inspection.test_receivers.native_handler", "testapp.Book", "testapp.Book", True),
        ("partial(tests.inspection.test_receivers.native_handler)", "any", None, False),
    ]


def test_6x_record_with_a_dead_sender_is_skipped():
    class Gone:
        pass

    sender = Gone()
    signal = DjangoSignal()
    signal.receivers = [
        ((id(native_handler), id(sender)), native_handler, weakref.ref(sender), False)
    ]
    del sender
    infos, _ = inspection.receivers.django_receivers(signal, inspection.receivers.SenderNames())
    assert infos == []


def test_real_receivers_of_this_django_version_are_read():
    signal = ModelSignal(use_caching=True)
    signal.connect(native_handler, sender=Tag)
    signal.connect(native_handler, dispatch_uid="uid-1")
    infos, _ = inspection.receivers.django_receivers(signal, inspection.receivers.SenderNames())
    assert [(i.name, i.sender, i.dispatch_uid) for i in infos] == [
        ("tests.inspection.test_receivers.native_handler", "testapp.Tag", None),
        ("tests.inspection.test_receivers.native_handler", "any", "uid-1"),
    ]
