from __future__ import annotations

from django.dispatch import Signal

from django_blinker import bridge

pinged = Signal()
"""Sent by the ping view."""

bridged_pinged = bridge(pinged, name="pingapp-pinged")
